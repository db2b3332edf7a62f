"""Panels of features and windowed datasets.

A :class:`Panel` holds time × ticker × feature arrays. Windows are never materialised:
:class:`WindowIndex` lists ``(origin, ticker)`` pairs and :func:`gather` cuts one batch
out of the panel's contiguous float32 arrays with a single fancy index per input, so
memory grows with the data, not with windows × context.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

from tftrade.core.types import BoolArray, Float64Array, Int64Array, Timeframe
from tftrade.features.errors import FeatureError
from tftrade.features.known import known_feature_names, known_features
from tftrade.features.scaling import Standardizer
from tftrade.features.sentiment import sentiment_features
from tftrade.features.technical import log_returns, technical_features

WARMUP = 35
"""Rows at the start whose indicators are not yet warmed up; no window starts inside them."""


@dataclass(frozen=True)
class _WindowArrays:
    observed: np.ndarray  # T × N × F float32
    known: np.ndarray  # (T + H) × N × K float32
    cum: np.ndarray  # (T + H) × N cumulative log returns, NaN beyond the data


@dataclass(frozen=True)
class Panel:
    """Features of one universe over one time range.

    ``observed`` is T × N × F (past-only inputs; scaled once :meth:`scaled` is called),
    ``known`` T × N × K (known-future inputs), ``static`` N × S integer categories,
    ``returns`` the raw one-bar log returns T × N and ``close`` the closes.
    """

    tickers: list[str]
    sectors: list[str]
    timeframe: Timeframe
    timestamps: Int64Array
    observed: Float64Array
    known: Float64Array
    static: Int64Array
    returns: Float64Array
    close: Float64Array
    observed_names: list[str]
    known_names: list[str]
    static_names: list[str] = field(default_factory=lambda: ["ticker_id", "sector_id"])
    standardizer: Standardizer | None = None
    known_future: Float64Array | None = None
    """Known inputs of the ``H`` bars after the last row (for live prediction); zeros if ``None``."""
    _windows: dict[int, _WindowArrays] = field(default_factory=dict, init=False, repr=False, compare=False)

    def window_arrays(self, horizon: int) -> _WindowArrays:
        """Return the contiguous float32 inputs and cumulative returns batches are cut from (built once)."""
        if horizon not in self._windows:
            tail = self.known_future if self.known_future is not None else np.zeros((horizon, *self.known.shape[1:]))
            cum = np.cumsum(self.returns, axis=0)
            self._windows[horizon] = _WindowArrays(
                observed=np.ascontiguousarray(self.observed, dtype=np.float32),
                known=np.ascontiguousarray(np.concatenate([self.known, tail[:horizon]], axis=0), dtype=np.float32),
                cum=np.concatenate([cum, np.full((horizon, cum.shape[1]), np.nan)]),
            )
        return self._windows[horizon]

    @property
    def n_times(self) -> int:
        return int(self.observed.shape[0])

    def scaled(self, standardizer: Standardizer) -> Panel:
        """Return a copy whose observed inputs are standardised by ``standardizer``."""
        return replace(self, observed=standardizer.transform(self.observed), standardizer=standardizer)

    def select(self, tickers: list[str]) -> Panel:
        """Return the panel restricted to ``tickers``."""
        cols = [self.tickers.index(t) for t in tickers]
        return replace(
            self, tickers=list(tickers), sectors=[self.sectors[c] for c in cols], observed=self.observed[:, cols],
            known=self.known[:, cols],
            known_future=None if self.known_future is None else self.known_future[:, cols],
            static=self.static[cols], returns=self.returns[:, cols], close=self.close[:, cols],
        )


def build_panel(
    *,
    tickers: list[str],
    sectors: list[str],
    timestamps: Int64Array,
    open_: Float64Array,
    high: Float64Array,
    low: Float64Array,
    close: Float64Array,
    volume: Float64Array,
    timeframe: Timeframe,
    sentiment_score: Float64Array | None = None,
    sentiment_count: Float64Array | None = None,
    earnings: BoolArray | None = None,
    sector_vocab: list[str] | None = None,
) -> Panel:
    """Compute every feature for a time × ticker market.

    Raises
    ------
    FeatureError
        If any price or volume is missing or not positive (the message names the ticker and bar).
    """
    _check_prices(tickers, timestamps, {"open": open_, "high": high, "low": low, "close": close})
    if not np.isfinite(volume).all():
        t, i = np.argwhere(~np.isfinite(volume))[0]
        raise FeatureError(f"volume of {tickers[i]} at bar {t} is not finite; fill or drop it before training")
    tech = technical_features(open_, high, low, close, volume.astype(np.float64))
    sent = sentiment_features(sentiment_score, sentiment_count, close.shape)
    names = list(tech) + list(sent)
    observed = np.stack([*tech.values(), *sent.values()], axis=-1)
    vocab = sector_vocab or sorted(set(sectors))
    static = np.stack([np.arange(len(tickers)), [vocab.index(s) if s in vocab else 0 for s in sectors]], axis=-1)
    return Panel(
        tickers=list(tickers), sectors=list(sectors), timeframe=timeframe, timestamps=np.asarray(timestamps),
        observed=observed, known=known_features(timestamps, timeframe, earnings, len(tickers)),
        static=static.astype(np.int64), returns=log_returns(close), close=close, observed_names=names,
        known_names=known_feature_names(timeframe),
    )


def _check_prices(tickers: list[str], timestamps: Int64Array, arrays: dict[str, Float64Array]) -> None:
    for name, arr in arrays.items():
        bad = ~np.isfinite(arr) | (arr <= 0)
        if bad.any():
            t, i = np.argwhere(bad)[0]
            raise FeatureError(
                f"{name} of {tickers[i]} at bar {t} (time {int(timestamps[t])}) is {arr[t, i]!r}; "
                "expected a positive finite price (fill or drop the bar before training)"
            )


@dataclass(frozen=True)
class WindowIndex:
    """Sample positions: ``origins[k]`` is the last encoder row of sample ``k`` for ticker ``cols[k]``."""

    origins: Int64Array
    cols: Int64Array

    def __len__(self) -> int:
        return len(self.origins)

    def take(self, idx: Int64Array) -> WindowIndex:
        return WindowIndex(self.origins[idx], self.cols[idx])


def windows(n_tickers: int, first_origin: int, last_origin: int) -> WindowIndex:
    """Return every ``(origin, ticker)`` pair with origin in ``[first_origin, last_origin]``, time-major."""
    if last_origin < first_origin:
        return WindowIndex(np.zeros(0, np.int64), np.zeros(0, np.int64))
    o = np.arange(first_origin, last_origin + 1, dtype=np.int64)
    return WindowIndex(np.repeat(o, n_tickers), np.tile(np.arange(n_tickers, dtype=np.int64), len(o)))


@dataclass(frozen=True)
class Batch:
    """Model inputs of a batch, as numpy arrays (float32 / int64)."""

    observed: np.ndarray  # B × C × F
    known: np.ndarray  # B × (C + H) × K
    static: np.ndarray  # B × S
    target: np.ndarray  # B × H, scaled cumulative log return (NaN if beyond the data)


def gather(panel: Panel, idx: WindowIndex, context: int, horizon: int) -> Batch:
    """Cut a batch out of ``panel`` (copies only the batch, from float32 arrays the panel builds once).

    The target of horizon ``h`` is ``log(close[o + h] / close[o])`` divided by the
    ticker's training scale of one-bar returns (looked up by the ticker id in ``static[:, 0]``).
    """
    arrays = panel.window_arrays(horizon)
    start = idx.origins - context + 1
    cols = idx.cols[:, None]
    observed = arrays.observed[start[:, None] + np.arange(context), cols]
    known = arrays.known[start[:, None] + np.arange(context + horizon), cols]
    ahead = idx.origins[:, None] + np.arange(1, horizon + 1)
    target = arrays.cum[ahead, cols] - arrays.cum[idx.origins, idx.cols][:, None]
    if panel.standardizer is not None:
        target = target / panel.standardizer.target_scale[panel.static[idx.cols, 0]][:, None]
    return Batch(observed, known, panel.static[idx.cols], target.astype(np.float32))


def features_hash(batch: Batch) -> str:
    """Return a SHA-256 of a batch's exact model inputs."""
    h = hashlib.sha256()
    for arr in (batch.observed, batch.known, batch.static):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()
