"""Market data assembly: long bars → time × ticker arrays, with one gap rule for every mode.

Training, prediction, the backtest and the live window all take their arrays from here (the live
window appends cross-sections by the same rule, so it equals :func:`assemble_bars` of the same
bars).

The gap rule
------------
* **Timestamps** are the union of the bar starts of the universe's tickers. Series that travel
  with the bars (a benchmark, a volatility index) add no timestamp of their own.
* **Raw market** (:class:`BarArrays`: what strategies, the broker and the risk gate read): where a
  ticker has no bar, its open, high, low and close are NaN and its volume 0 (``present`` is
  False). NaN means "no price now"; nothing is invented.
* **Feature inputs** (:func:`feature_prices`: what the forecaster's features are computed from):
  a missing close is the ticker's last close carried forward, a missing open, high or low is
  that carried close, volume 0. Before a ticker's first bar nothing is carried: its prices stay
  NaN and :func:`~tftrade.features.dataset.build_panel` refuses them (select tickers with full
  history, or let the window start later).
* **Series** closes are carried forward from their last value at or before each timestamp
  (including values stamped at times without a universe bar); NaN before their first value.

Examples
--------
>>> t = pd.to_datetime(["2024-01-02 14:30", "2024-01-02 14:31", "2024-01-02 14:32"], utc=True)
>>> bars = pd.DataFrame({"ticker": ["A", "A", "B"], "window_start": [t[0], t[2], t[1]],
...                      "open": [1.0, 3.0, 5.0], "high": [1.0, 3.0, 5.0], "low": [1.0, 3.0, 5.0],
...                      "close": [1.0, 3.0, 5.0], "volume": [10, 30, 50]})
>>> m = assemble_bars(bars)
>>> m.close.tolist(), m.volume[:, 0].tolist(), m.present[:, 1].tolist()
([[1.0, nan], [nan, 5.0], [3.0, nan]], [10.0, 0.0, 30.0], [False, True, False])
>>> f = m.features()
>>> f.close.tolist(), f.volume[:, 1].tolist()
([[1.0, nan], [1.0, 5.0], [3.0, 5.0]], [0.0, 50.0, 0.0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from tftrade.core.types import BoolArray, Float64Array, Int64Array
from tftrade.features.errors import FeatureError

FIELDS = ("open", "high", "low", "close", "volume")
"""The price and volume fields of a bar, in the order every array tuple uses."""


class Prices(NamedTuple):
    """Open, high, low, close and volume, each ``(T, n)``."""

    open: Float64Array
    high: Float64Array
    low: Float64Array
    close: Float64Array
    volume: Float64Array


@dataclass(frozen=True)
class BarArrays:
    """The raw market of ``n`` tickers over ``T`` timestamps (see the module docstring for the gap rule)."""

    timestamps: Int64Array
    tickers: tuple[str, ...]
    open: Float64Array
    high: Float64Array
    low: Float64Array
    close: Float64Array
    volume: Float64Array
    price_only: tuple[bool, ...]
    """Tickers whose bars carry one price and no OHLC or volume (ingested from a file of prices)."""
    series: dict[str, Float64Array] = field(default_factory=dict)
    """Role (``benchmark``, ``vix``) → closes ``(T,)`` carried forward onto the timestamps."""

    @property
    def present(self) -> BoolArray:
        """``(T, n)``: True where the ticker has a bar at the timestamp."""
        return present(self.close)

    def prices(self) -> Prices:
        """The raw arrays (NaN prices and volume 0 where a bar is missing)."""
        return Prices(self.open, self.high, self.low, self.close, self.volume)

    def rows(self, start: int, end: int | None = None) -> BarArrays:
        """Timestamps ``[start, end)`` (views, no copies)."""
        sl = slice(start, end)
        return replace(self, timestamps=self.timestamps[sl], open=self.open[sl], high=self.high[sl],
                       low=self.low[sl], close=self.close[sl], volume=self.volume[sl],
                       series={r: a[sl] for r, a in self.series.items()})

    def features(self) -> Prices:
        """The arrays the features are computed from (:func:`feature_prices`)."""
        return feature_prices(self.open, self.high, self.low, self.close, self.volume)


def present(close: Float64Array) -> BoolArray:
    """True where a bar is present: its close is a number (missing bars are NaN by the gap rule)."""
    return np.asarray(~np.isnan(close))


def assemble_bars(
    bars: pd.DataFrame, tickers: Sequence[str] | None = None, series: Mapping[str, str] | None = None
) -> BarArrays:
    """Pivot long bars (``ticker, window_start, open, high, low, close, volume[, price_only]``) into arrays.

    ``tickers`` is the universe, in that order (default: every ticker of ``bars`` not named in
    ``series``, sorted); ``series`` maps a role to the ticker whose closes travel with the bars. The
    timestamps are those of the universe's bars; the gap rule is the module docstring's.

    Raises
    ------
    FeatureError
        If a column is missing or the universe has no bar.
    """
    missing = [c for c in ("ticker", "window_start", *FIELDS) if c not in bars.columns]
    if missing:
        raise FeatureError(f"bars lack column(s) {', '.join(missing)}")
    roles = dict(series or {})
    ts = bar_times(bars["window_start"])
    names = bars["ticker"].astype(str)
    if tickers is None:
        tickers = sorted(set(names) - set(roles.values()))
    universe = tuple(str(t) for t in tickers)
    if not roles:
        one = _one_time(bars, names, ts, universe)
        if one is not None:
            return one
    rows_in = names.isin(universe).to_numpy()
    if not rows_in.any():
        raise FeatureError("no bar of the universe's tickers to assemble")
    times = np.unique(ts[rows_in])
    row = np.searchsorted(times, ts[rows_in])
    col = pd.Index(universe).get_indexer(names[rows_in])
    arrays = {}
    for name in FIELDS:
        a = np.full((times.shape[0], len(universe)), 0.0 if name == "volume" else np.nan)
        a[row, col] = bars[name].to_numpy(np.float64)[rows_in]
        arrays[name] = a
    flags = (bars.loc[rows_in, "price_only"].groupby(names.to_numpy()[rows_in]).any()
             if "price_only" in bars.columns else {})
    closes = {role: carried(ts[(names == t).to_numpy()], bars["close"].to_numpy(np.float64)[(names == t).to_numpy()],
                            times) for role, t in roles.items()}
    return BarArrays(times.astype(np.int64), universe, price_only=tuple(bool(flags.get(t, False)) for t in universe),
                     series={r: c for r, c in closes.items() if c is not None}, **arrays)


def _one_time(bars: pd.DataFrame, names: pd.Series, ts: Int64Array, universe: tuple[str, ...]) -> BarArrays | None:
    """The arrays of one bar of every ticker at one time (a live minute), placed without sorting times or
    grouping flags: what the general assembly gives for them; ``None`` for anything else."""
    n = len(universe)
    if len(bars) != n or n == 0 or (ts != ts[0]).any():
        return None
    col = pd.Index(universe).get_indexer(names.to_numpy())
    if (col < 0).any() or np.bincount(col, minlength=n).max() != 1:
        return None
    arrays: dict[str, Float64Array] = {}
    for name in FIELDS:
        a = np.empty((1, n))
        a[0, col] = bars[name].to_numpy(np.float64)
        arrays[name] = a
    flags = np.zeros(n, dtype=bool)
    if "price_only" in bars.columns:
        flags[col] = bars["price_only"].to_numpy(dtype=bool)
    return BarArrays(ts[:1].astype(np.int64), universe, price_only=tuple(flags.tolist()), series={}, **arrays)


def bar_times(window_start: pd.Series) -> Int64Array:
    """Epoch ns (UTC) of bar starts (naive times are UTC)."""
    return np.asarray(pd.DatetimeIndex(pd.to_datetime(window_start, utc=True)).as_unit("ns").asi8, dtype=np.int64)


def carried(stamps: Int64Array, values: Float64Array, times: Int64Array) -> Float64Array | None:
    """``values`` stamped at ``stamps`` carried forward onto ``times`` (NaN before the first); ``None`` if empty."""
    if stamps.shape[0] == 0:
        return None
    order = np.argsort(stamps, kind="stable")
    s = pd.Series(values[order], index=stamps[order])
    return np.asarray(s.reindex(s.index.union(times)).ffill().reindex(times).to_numpy(np.float64))


def forward_fill(a: Float64Array) -> Float64Array:
    """Carry each column's last number forward over NaN (leading NaN stay NaN).

    >>> forward_fill(np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan]])).tolist()
    [[nan, 1.0], [2.0, 1.0], [2.0, 1.0]]
    """
    if a.shape[0] == 0:
        return a.copy()
    idx = np.where(np.isnan(a), 0, np.arange(a.shape[0])[:, None])
    np.maximum.accumulate(idx, axis=0, out=idx)
    return np.asarray(np.take_along_axis(a, idx, axis=0))


def feature_prices(open_: Float64Array, high: Float64Array, low: Float64Array, close: Float64Array,
                   volume: Float64Array) -> Prices:
    """Apply the features' gap rule to raw arrays: carried close, open/high/low = that close, volume 0.

    Leading gaps (before a ticker's first bar) stay NaN. Arrays without gaps come back unchanged
    (the same values), so applying it twice changes nothing. This is what the forecaster's
    features must see in every mode: training, ``predict`` and the live predictor (call it on
    the window's rows before :func:`~tftrade.features.dataset.build_panel`).
    """
    c = forward_fill(close)
    fill = np.isnan(open_) | np.isnan(high) | np.isnan(low) | np.isnan(close)
    v = np.where(np.isnan(volume), 0.0, volume) if np.isnan(volume).any() else volume
    if not fill.any():
        return Prices(open_, high, low, close, v)
    o, h, lo = (np.where(np.isnan(x), c, x) for x in (open_, high, low))
    return Prices(o, h, lo, c, v)


def feature_window(open_: Float64Array, high: Float64Array, low: Float64Array, close: Float64Array,
                   volume: Float64Array, start: int, end: int) -> Prices:
    """:func:`feature_prices` of rows ``[start, end)``, carrying closes from the rows before ``start``.

    Equals ``feature_prices`` of all the rows, sliced (what training sees), but touches only the
    window and, for a ticker missing at ``start``, its last close before it. This is the call for
    a live predictor on its rolling window::

        f = feature_window(w.open, w.high, w.low, w.close, w.volume, row + 1 - history, row + 1)
        build_panel(..., open_=f.open, high=f.high, low=f.low, close=f.close, volume=f.volume, ...)

    Examples
    --------
    >>> c = np.array([[1.0, np.nan], [np.nan, np.nan], [3.0, 5.0]])
    >>> feature_window(c, c, c, c, np.ones_like(c), 1, 3).close.tolist()
    [[1.0, nan], [3.0, 5.0]]
    """
    s = slice(start, end)
    o, h, lo, c, v = open_[s], high[s], low[s], close[s], volume[s]
    lead = np.isnan(c[0]) if c.shape[0] else np.zeros(0, dtype=bool)
    if start <= 0 or not lead.any():
        return feature_prices(o, h, lo, c, v)
    cols = np.flatnonzero(lead)
    past = ~np.isnan(close[:start, cols])
    last = start - 1 - np.argmax(past[::-1], axis=0)
    seed = np.full(c.shape[1], np.nan)
    seed[cols] = np.where(past.any(axis=0), close[last, cols], np.nan)
    o2, h2, lo2, c2 = (np.vstack([seed, x]) for x in (o, h, lo, c))
    f = feature_prices(o2, h2, lo2, c2, np.vstack([np.zeros(c.shape[1]), v]))
    return Prices(*(x[1:] for x in f))
