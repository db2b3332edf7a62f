"""Forecasts at each closed bar from the bars up to it: the predict worker's model, and the backtest's too.

A :class:`Predictor` sees a :class:`~tftrade.strategy.view.MarketFrame` and a row and returns the
quantile forecasts made at that row's close. :class:`TftPredictor` keeps the TFT's inputs
up to date bar by bar (:class:`~tftrade.forecast.rolling.RollingForecaster`: only the new bar's
features are computed and selected) and runs the rest of the network once per bar; between bars,
:meth:`TftPredictor.prepare` runs ahead the encoder steps of the next bar's window that are known.
:func:`forecast_panel` applies a predictor row by row to stored history, which is what the
predict worker does bar by bar live: the same inputs give the same forecasts in both.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

from tftrade.core.types import Float64Array
from tftrade.strategy.forecasts import ForecastPanel
from tftrade.strategy.view import MarketFrame

if TYPE_CHECKING:
    from tftrade.forecast.data import SentimentLookup
    from tftrade.forecast.rolling import RollingForecaster
    from tftrade.forecast.training import Trained

log = logging.getLogger(__name__)


class Quantiles(NamedTuple):
    """One forecast per ticker: quantiles of the cumulative log return and the confidence score (NaN = none)."""

    q10: Float64Array
    q50: Float64Array
    q90: Float64Array
    confidence: Float64Array


class Predictor(Protocol):
    """Forecasts made at the close of a row from the rows up to it."""

    @property
    def horizon(self) -> int:
        """Bars ahead the forecasts are for."""
        ...

    @property
    def history(self) -> int:
        """Rows of history the live window keeps for the predictor (a cold start reads this many)."""
        ...

    @property
    def model_version(self) -> str:
        """Version recorded with every prediction."""
        ...

    def predict(self, frame: MarketFrame, row: int) -> Quantiles | None:
        """Forecasts at ``row`` for every ticker of ``frame``, or ``None`` when none can be made."""
        ...

    def prepare(self) -> None:
        """Compute ahead, while waiting for the next row, what its forecast can know already (or nothing)."""
        ...


def no_forecast_reason(predictor: Predictor) -> str:
    """Why ``predictor``'s last :meth:`~Predictor.predict` gave no forecast (its ``no_forecast_reason`` when it
    keeps one, as :class:`TftPredictor` does; otherwise a generic reason).

    >>> class Quiet:
    ...     pass
    >>> no_forecast_reason(Quiet())  # type: ignore[arg-type]
    'no forecast'
    """
    return str(getattr(predictor, "no_forecast_reason", "") or "no forecast")


class TftPredictor:
    """The trained TFT on each ticker's bars, one closed bar at a time (see the module docstring).

    Parameters
    ----------
    trained
        A fitted model (:func:`tftrade.forecast.persistence.load_model` or training).
    horizon
        Which horizon (1-based) the forecasts are for (default: the model's last).
    model_version
        Written with every prediction.
    force
        Keep the confidence of a model marked ``loses_to_baseline`` (otherwise 0: no views), as ``predict --force``.
    threads
        Torch intra-op threads of each forecast (default 1; ``None``: the process's setting).
    sentiment
        The comment score and count of bars (:data:`~tftrade.forecast.data.SentimentLookup`, what
        ``panel_from_bars`` takes), called on each new bar (on the window at a cold start); give one
        when the model was fitted with sentiment (:func:`~tftrade.forecast.rolling.uses_sentiment`),
        otherwise its sentiment inputs are 0.

    The predictor keeps a :class:`~tftrade.forecast.rolling.RollingForecaster` per universe: when
    ``row`` is the bar after the last one it saw, only that bar's features are computed and selected;
    otherwise (first call, a jump, another frame) it starts afresh from the frame's last ``history``
    rows. A ticker's missing bar is its last close carried with volume 0 — the one gap rule of
    :mod:`tftrade.features.market` that training and ``tftrade predict`` apply — so a gap in one
    ticker never stops the universe's forecasts; only a ticker with no price yet to carry does.
    The forecast at a row is that of ``tftrade predict`` on the rows fed since that start, to float
    rounding.
    """

    def __init__(self, trained: Trained, horizon: int | None = None, model_version: str = "",
                 force: bool = False, threads: int | None = 1, sentiment: SentimentLookup | None = None) -> None:
        from tftrade.features.dataset import WARMUP

        self.trained = trained
        cfg = trained.config
        self._horizon = horizon or cfg.horizon
        if not 1 <= self._horizon <= cfg.horizon:
            raise ValueError(f"horizon {self._horizon} outside the model's 1..{cfg.horizon}")
        self._history = 3 * (WARMUP + cfg.context)  # what `tftrade predict` reads: a cold start matches it
        self._version = model_version
        self.selection: str | None = None
        """Why the registry's version was chosen (``champion`` or ``newest``); ``None`` for a ``--model`` folder."""
        self._mute = trained.status == "loses_to_baseline" and not force
        levels = list(cfg.quantiles)
        self._levels = (levels.index(min(levels)), levels.index(0.5) if 0.5 in levels else len(levels) // 2,
                        levels.index(max(levels)))
        self._rolling: RollingForecaster | None = None
        self._threads = threads
        self.sentiment = sentiment
        self.no_forecast_reason = ""
        """Why the last :meth:`predict` returned ``None`` (``""`` after a forecast)."""
        self._lacking = 0

    @property
    def horizon(self) -> int:
        """Bars ahead."""
        return self._horizon

    @property
    def history(self) -> int:
        """Rows a cold start reads: three times warm-up + context, as ``tftrade predict``."""
        return self._history

    @property
    def confidence_muted(self) -> bool:
        """Whether its confidence is reported as 0: a model tagged ``loses_to_baseline``, not forced."""
        return self._mute

    @property
    def model_version(self) -> str:
        """Model version."""
        return self._version

    def predict(self, frame: MarketFrame, row: int) -> Quantiles | None:
        """Forecast every ticker at ``row`` (``None`` until warm-up + context clean bars were seen; then
        :attr:`no_forecast_reason` says why)."""
        from tftrade.features.dataset import WARMUP
        from tftrade.features.errors import FeatureError

        r = self._forecaster(frame)
        ts = frame.timestamps
        t = int(ts[row])
        try:
            if r.last_ns is not None and r.last_ns == t:
                pass  # the same bar again
            elif row >= 1 and r.last_ns is not None and r.last_ns == int(ts[row - 1]):
                r.append(t, *(x[0] for x in _filled(frame, row, row + 1)), sentiment=self.sentiment)
            else:
                self._cold(r, frame, row)
        except FeatureError as e:
            log.warning("no forecast at row %d: %s", row, e)
            self.no_forecast_reason = f"inputs rejected, the model's state starts afresh: {e}"
            self._lacking = 0
            return None
        f = r.forecast()
        if f is None:
            need = WARMUP + self.trained.config.context
            self.no_forecast_reason = f"warm-up: {r.features.rows} of {need} clean bars since the last (re)start"
            self._lacking = max(1, need - r.features.rows)
            return None
        self.no_forecast_reason, self._lacking = "", 0
        conf = f.confidence[:, self._horizon - 1]
        if self._mute:
            conf = np.zeros_like(conf)
        q = f.quantiles[:, self._horizon - 1, :]
        lo, mid, hi = (q[:, k] for k in self._levels)
        return Quantiles(lo, mid, hi, conf)

    def warm_up_left(self) -> int:
        """Clean bars the state still needs before it forecasts, when the last :meth:`predict` gave none for want
        of them (0 after a forecast, or when the inputs were rejected)."""
        return self._lacking

    def catch_up(self, frame: MarketFrame, limit: int | None = None) -> bool:
        """Feed the rows of ``frame`` after the last one seen, bar by bar, without forecasting; ``True`` when the
        state is then at ``frame``'s last row (``False``: the last row seen is not in ``frame``, or more than
        ``limit`` rows follow it, and nothing was fed; or a row was rejected and the state starts afresh).

        A model warmed on a copy of the live window a few bars ago (:mod:`tftrade.live.champion`) is brought
        up to date this way before it takes over: each row costs what an appended bar costs, no forward pass.
        """
        from tftrade.features.errors import FeatureError

        r = self._rolling
        ts = frame.timestamps
        if r is None or r.last_ns is None or not len(ts):
            return False
        if r.tickers != tuple(frame.tickers) or r.sectors != tuple(frame.sectors):
            return False
        at = np.flatnonzero(ts == r.last_ns)
        if not len(at) or (limit is not None and ts.shape[0] - 1 - int(at[0]) > limit):
            return False
        try:
            for row in range(int(at[0]) + 1, ts.shape[0]):
                r.append(int(ts[row]), *(x[0] for x in _filled(frame, row, row + 1)), sentiment=self.sentiment)
        except FeatureError:  # the state was reset: the next predict starts afresh
            return False
        return True

    def prepare(self) -> None:
        """Run ahead the encoder of the next bar's window over the bars seen (:meth:`RollingForecaster.prepare
        <tftrade.forecast.rolling.RollingForecaster.prepare>`): the next :meth:`predict`, one bar on, is quicker
        and forecasts the same."""
        if self._rolling is not None:
            self._rolling.prepare()

    def _forecaster(self, frame: MarketFrame) -> RollingForecaster:
        """The rolling state of ``frame``'s universe (a new one for another universe or order)."""
        from tftrade.forecast.rolling import RollingForecaster

        r = self._rolling
        if r is None or r.tickers != tuple(frame.tickers) or r.sectors != tuple(frame.sectors):
            r = self._rolling = RollingForecaster(self.trained, tuple(frame.tickers), tuple(frame.sectors),
                                                  frame.timeframe, self._threads)
        return r

    def _cold(self, r: RollingForecaster, frame: MarketFrame, row: int) -> None:
        """Start afresh from the last ``history`` rows up to ``row`` (gaps carried by the one gap rule), after
        the last row where a ticker has no price yet to carry."""
        start = max(0, row + 1 - self._history)
        arrays = list(_filled(frame, start, row + 1))
        bad = np.zeros(row + 1 - start, dtype=bool)
        for a in arrays[:4]:
            bad |= (~np.isfinite(a) | (a <= 0)).any(axis=1)
        bad |= ~np.isfinite(arrays[4]).all(axis=1)
        first = int(np.nonzero(bad)[0][-1]) + 1 if bad.any() else 0
        r.reset()
        r.extend(frame.timestamps[start + first : row + 1], *(a[first:] for a in arrays), sentiment=self.sentiment)


_FIELDS = ("open", "high", "low", "close", "volume")


def _filled(frame: MarketFrame, start: int, end: int) -> tuple[Float64Array, ...]:
    """Rows ``[start, end)`` as the features see them: a missing bar is the last close carried, volume 0
    (:func:`tftrade.features.market.feature_window`, the gap rule training and ``tftrade predict`` use)."""
    from tftrade.features.market import feature_window

    return tuple(feature_window(frame.open, frame.high, frame.low, frame.close, frame.volume, start, end))


def forecast_panel(predictor: Predictor, frame: MarketFrame, first: int = 0) -> ForecastPanel:
    """Apply ``predictor`` at every row from ``first`` on; the panel holds the rows it forecast.

    This is the predict worker's work done over stored history, row after row, so a backtest
    on this panel sees exactly the forecasts the live path publishes for the same bars.
    """
    stamps: list[int] = []
    rows: list[Quantiles] = []
    for t in range(first, frame.timestamps.shape[0]):
        q = predictor.predict(frame, t)
        if q is not None and np.isfinite(q.q50).any():
            stamps.append(int(frame.timestamps[t]))
            rows.append(q)
    n = len(frame.tickers)
    q10, q50, q90, conf = (np.stack([r[k] for r in rows]) if rows else np.zeros((0, n)) for k in range(4))
    return ForecastPanel(np.asarray(stamps, dtype=np.int64), tuple(frame.tickers), predictor.horizon, q10, q50, q90,
                         conf, model_version=predictor.model_version)
