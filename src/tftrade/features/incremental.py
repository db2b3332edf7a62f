"""The observed features of each new cross-section from running indicator state, for live forecasting.

:func:`~tftrade.features.dataset.build_panel` computes every feature over a whole time × ticker
array. A live system sees one cross-section per bar; recomputing the indicators over the last few
hundred bars every minute repeats almost all of the work. :class:`IncrementalFeatures` keeps what
the indicators need — each exponential average's last value, the last ``window`` values of each
rolling mean, the previous close — and computes only the new row. Fed the rows ``0..t`` of a
market one at a time, row ``t`` equals row ``t`` of ``build_panel`` over rows ``0..t`` (the same
formulas from the same first row, to float rounding: a test compares them), so the state's first
row plays the part of the batch window's first row.

The sentiment features take each bar's comment ``score`` (NaN where a ticker had no comment) and
``count``, the arguments of :func:`~tftrade.features.sentiment.sentiment_features`, and keep its
exponential averages running. A bar given no sentiment (``score=None``) has score 0 and
``sentiment_present`` 0; fed arrays for every row, each row equals the batch features over the
whole window with those arrays.
"""

from __future__ import annotations

import numpy as np

from tftrade.core.types import Float64Array
from tftrade.features.errors import FeatureError
from tftrade.features.sentiment import BEARISH, BULLISH, SENTIMENT_FEATURES
from tftrade.features.technical import EPS

TECHNICAL = ("log_return", "log_volume", "hl_range", "rsi", "macd", "bollinger_pctb", "atr", "vwap_distance",
             "realised_vol")
"""The names of :func:`~tftrade.features.technical.technical_features`, in its order."""
_EMA_SPANS = {"up": 27, "down": 27, "fast": 12, "slow": 26, "signal": 9, "atr": 27,
              "bullish": 10, "bearish": 10, "s_fast": 5, "s_slow": 20}
"""Spans of ``technical_features``' and ``sentiment_features``' exponential averages."""
_WINDOWS = {"close": 20, "close_sq": 20, "r": 20, "r_sq": 20, "cv": 30, "v": 30}


class _Rolling:
    """The last ``window`` rows of an ``(n,)`` series; their mean (over fewer rows at the start)."""

    def __init__(self, window: int, n: int) -> None:
        self._buf = np.zeros((window, n))
        self._count = 0

    def push(self, x: Float64Array) -> Float64Array:
        self._buf[self._count % self._buf.shape[0]] = x
        self._count += 1
        k = min(self._count, self._buf.shape[0])
        return np.asarray(self._buf[:k].sum(axis=0) / k, dtype=np.float64)


class IncrementalFeatures:
    """Observed features (``build_panel``'s names and order) one cross-section at a time.

    Parameters
    ----------
    n
        Tickers per cross-section.

    Examples
    --------
    >>> f = IncrementalFeatures(1)
    >>> row = f.update(*(np.array([100.0]) for _ in range(4)), np.array([10.0]))
    >>> f.names[:3], row.shape, float(row[0, 0])
    (['log_return', 'log_volume', 'hl_range'], (1, 15), 0.0)
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.names = [*TECHNICAL, *SENTIMENT_FEATURES]
        self.rows = 0
        """Rows seen since the first one (the state's first row is the batch window's first row)."""
        self._ema: dict[str, Float64Array] = {}
        self._roll = {k: _Rolling(w, n) for k, w in _WINDOWS.items()}
        self._prev_close = np.zeros(n)

    def _ema_step(self, key: str, x: Float64Array) -> Float64Array:
        """``y_t = a x_t + (1 - a) y_{t-1}``, started at ``y_0 = x_0`` (``technical.ema``)."""
        a = 2.0 / (_EMA_SPANS[key] + 1.0)
        prev = self._ema.get(key)
        y = x.copy() if prev is None else a * x + (1 - a) * prev
        self._ema[key] = y
        return y

    def update(self, open_: Float64Array, high: Float64Array, low: Float64Array, close: Float64Array,
               volume: Float64Array, *, score: Float64Array | None = None,
               count: Float64Array | None = None) -> Float64Array:
        """Add one cross-section (each ``(n,)``); return its features ``(n, F)`` in :attr:`names` order.

        ``score`` is each ticker's mean comment sentiment in the bar (NaN: no comment) and ``count``
        its comments (``None``: one wherever ``score`` is finite), as
        :func:`~tftrade.features.sentiment.sentiment_features` takes them; without ``score`` the
        sentiment features are 0 (their averages run on a score of 0).

        Raises
        ------
        FeatureError
            If a price is missing or not positive, or a volume is not finite (the state is unchanged).
        """
        for name, arr in (("open", open_), ("high", high), ("low", low), ("close", close)):
            bad = ~np.isfinite(arr) | (arr <= 0)
            if bad.any():
                raise FeatureError(f"{name} of ticker #{int(np.argmax(bad))} is {arr[bad][0]!r}; expected a positive "
                                   "finite price")
        if not np.isfinite(volume).all():
            raise FeatureError(f"volume of ticker #{int(np.argmax(~np.isfinite(volume)))} is not finite")
        first = self.rows == 0
        prev = close if first else self._prev_close
        r = np.zeros(self.n) if first else np.log(close / prev)
        d = close - prev
        up, down = self._ema_step("up", np.maximum(d, 0.0)), self._ema_step("down", np.maximum(-d, 0.0))
        line = self._ema_step("fast", close) - self._ema_step("slow", close)
        signal = self._ema_step("signal", line)
        mid, sq = self._roll["close"].push(close), self._roll["close_sq"].push(close * close)
        sd = np.sqrt(np.maximum(sq - mid * mid, 0.0))
        tr = np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))
        atr = self._ema_step("atr", tr) / close
        vwap = self._roll["cv"].push(close * volume) / (self._roll["v"].push(volume) + EPS)
        rm, rsq = self._roll["r"].push(r), self._roll["r_sq"].push(r * r)
        out = np.zeros((self.n, len(self.names)))
        out[:, 0] = r
        out[:, 1] = np.log1p(np.maximum(volume, 0.0))
        out[:, 2] = np.log(high / low)
        out[:, 3] = up / (up + down + EPS) * 2.0 - 1.0
        out[:, 4] = (line - signal) / close
        out[:, 5] = (close - mid) / (2 * 2.0 * sd + EPS * close)
        out[:, 6] = atr
        out[:, 7] = np.log(close / np.maximum(vwap, EPS))
        out[:, 8] = np.sqrt(np.maximum(rsq - rm * rm, 0.0))
        self._sentiment(out[:, len(TECHNICAL):], score, count)
        self._prev_close = close.astype(np.float64, copy=True)
        self.rows += 1
        return out

    def _sentiment(self, out: Float64Array, score: Float64Array | None, count: Float64Array | None) -> None:
        """Write the sentiment features (``SENTIMENT_FEATURES`` order) of one bar into ``out`` ``(n, 6)``."""
        if score is None:
            s, n, present = np.zeros(self.n), np.zeros(self.n), 0.0
        else:
            score = np.asarray(score, dtype=np.float64)
            has = np.isfinite(score)
            s = np.where(has, score, 0.0)
            n = np.where(has, 1.0, 0.0) if count is None else np.asarray(count, dtype=np.float64)
            present = 1.0
        out[:, 0] = s
        out[:, 1] = self._ema_step("bullish", (s > BULLISH).astype(np.float64))
        out[:, 2] = self._ema_step("bearish", (s < BEARISH).astype(np.float64))
        out[:, 3] = np.log1p(n)
        out[:, 4] = self._ema_step("s_fast", s) - self._ema_step("s_slow", s)
        out[:, 5] = present
