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

OHLC_INPUTS = ("log_volume", "hl_range", "atr", "vwap_distance")
"""Observed inputs that need open/high/low or volume: masked for price-only series."""


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
    input_mask: BoolArray | None = None
    """N × F, ``False`` where a ticker lacks an observed input (the OHLC- and volume-based inputs of a
    price-only series): such entries are 0 in the raw panel, ignored by the scaler and 0 once scaled."""
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
        """Return a copy whose observed inputs are standardised by ``standardizer``.

        When the standardizer names its inputs, the copy keeps those inputs only (in that order);
        masked entries (:attr:`input_mask`) are 0 after scaling.

        Raises
        ------
        FeatureError
            If the panel lacks an input the standardizer was fitted on.
        """
        panel = self if standardizer.observed is None else self.restrict(standardizer.observed, standardizer.known)
        observed = standardizer.transform(panel.observed)
        if panel.input_mask is not None and not panel.input_mask.all():
            observed = np.where(panel.input_mask[None], observed, 0.0)
        return replace(panel, observed=observed, standardizer=standardizer)

    def restrict(self, observed: tuple[str, ...] | list[str], known: tuple[str, ...] | list[str] | None) -> Panel:
        """Return the panel with only the named observed (and known, when given) inputs, in that order.

        Raises
        ------
        FeatureError
            If a name is not one of the panel's inputs.
        """
        if list(observed) == self.observed_names and (known is None or list(known) == self.known_names):
            return self
        missing = [n for n in observed if n not in self.observed_names]
        missing += [n for n in (known or ()) if n not in self.known_names]
        if missing:
            raise FeatureError(f"the panel has no input(s) {', '.join(missing)}; the model was trained with them")
        o = [self.observed_names.index(n) for n in observed]
        k = list(range(len(self.known_names))) if known is None else [self.known_names.index(n) for n in known]
        return replace(
            self, observed=self.observed[..., o], observed_names=list(observed), known=self.known[..., k],
            known_names=[self.known_names[i] for i in k],
            known_future=None if self.known_future is None else self.known_future[..., k],
            input_mask=None if self.input_mask is None else self.input_mask[:, o],
        )

    def select(self, tickers: list[str]) -> Panel:
        """Return the panel restricted to ``tickers``."""
        cols = [self.tickers.index(t) for t in tickers]
        return replace(
            self, tickers=list(tickers), sectors=[self.sectors[c] for c in cols], observed=self.observed[:, cols],
            known=self.known[:, cols],
            known_future=None if self.known_future is None else self.known_future[:, cols],
            static=self.static[cols], returns=self.returns[:, cols], close=self.close[:, cols],
            input_mask=None if self.input_mask is None else self.input_mask[cols],
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
    price_only: list[bool] | None = None,
) -> Panel:
    """Compute every feature for a time × ticker market.

    ``price_only`` marks series that have one price per bar and no OHLC or volume (open = high =
    low = close = the price): their returns and close-based indicators are computed from the price,
    and their OHLC- and volume-based inputs (:data:`OHLC_INPUTS`) are masked (see
    :attr:`Panel.input_mask`).

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
    mask = None
    if price_only is not None and any(price_only):
        mask = np.ones((len(tickers), len(names)), dtype=bool)
        cols = np.asarray([names.index(n) for n in OHLC_INPUTS], dtype=np.int64)
        mask[np.ix_(np.asarray(price_only, dtype=bool), cols)] = False
        observed[:, ~mask] = 0.0
    vocab = sector_vocab or sorted(set(sectors))
    static = np.stack([np.arange(len(tickers)), [vocab.index(s) if s in vocab else 0 for s in sectors]], axis=-1)
    return Panel(
        tickers=list(tickers), sectors=list(sectors), timeframe=timeframe, timestamps=np.asarray(timestamps),
        observed=observed, known=known_features(timestamps, timeframe, earnings, len(tickers)),
        static=static.astype(np.int64), returns=log_returns(close), close=close, observed_names=names,
        known_names=known_feature_names(timeframe), input_mask=mask,
    )


def absent_inputs(panel: Panel, start: int, end: int) -> list[str]:
    """Return the inputs that carry nothing on rows ``start:end``: constant (e.g. sentiment when no
    comments were scored, earnings flags with no earnings dates) or masked for every ticker.

    Examples
    --------
    >>> import numpy as np
    >>> c = np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, (60, 2)), axis=0))
    >>> p = build_panel(tickers=["A", "B"], sectors=["x", "x"], timestamps=np.arange(60) * 86_400 * 10**9,
    ...                 open_=c, high=c, low=c, close=c, volume=np.zeros((60, 2)), timeframe="1day",
    ...                 price_only=[True, True])
    >>> absent_inputs(p, 35, 60)[:4]
    ['log_volume', 'hl_range', 'atr', 'vwap_distance']
    """
    out = []
    for f, name in enumerate(panel.observed_names):
        x = panel.observed[start:end, :, f]
        if panel.input_mask is not None:
            x = x[:, panel.input_mask[:, f]]
        if x.size == 0 or float(np.ptp(x)) <= 1e-12:
            out.append(name)
    out += [n for k, n in enumerate(panel.known_names) if float(np.ptp(panel.known[start:end, :, k])) <= 1e-12]
    return out


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
