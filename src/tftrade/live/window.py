"""The live market: a rolling window of the last ``capacity`` cross-sections, read like history.

:class:`RollingMarket` is a :class:`~tftrade.strategy.view.MarketFrame`: the strategy, the gate
and the predictor read it through the same :class:`~tftrade.strategy.view.MarketView` as a
backtest's :class:`~tftrade.backtest.market.MarketData`, so a window at least as long as every
look-back gives them exactly the slices the backtest gives.

Rows follow the gap rule of :mod:`tftrade.features.market` (NaN prices and volume 0 where a
ticker has no bar; series closes carried forward), so a window fed the cross-sections of
:class:`~tftrade.live.assembler.Assembler` equals :func:`~tftrade.features.market.assemble_bars`
of the same bars (its last ``capacity`` rows): see :meth:`RollingMarket.append_bars` for history.
"""

from __future__ import annotations

import numpy as np

from tftrade.core.types import BoolArray, Float64Array, Int64Array, Timeframe
from tftrade.features.market import BarArrays, present
from tftrade.live.errors import LiveError

_FIELDS = ("open", "high", "low", "close", "volume")


class RollingMarket:
    """The last ``capacity`` bars of a fixed universe (``(rows, n)`` arrays, oldest first).

    Storage is twice the capacity, so an append is a row copy and only every ``capacity``
    appends shifts the window down once.

    Examples
    --------
    >>> m = RollingMarket(("A",), ("S",), "1min", capacity=2)
    >>> for ts in (1, 2, 3):
    ...     _ = m.append(ts, *(np.array([float(ts)]) for _ in range(5)))
    >>> m.timestamps.tolist(), m.close[:, 0].tolist()
    ([2, 3], [2.0, 3.0])
    """

    def __init__(self, tickers: tuple[str, ...], sectors: tuple[str, ...], timeframe: Timeframe, *,
                 capacity: int, benchmark: bool = False, vix: bool = False) -> None:
        if capacity < 1 or not tickers or len(sectors) != len(tickers):
            raise LiveError(f"a rolling market needs capacity >= 1 and one sector per ticker "
                            f"({capacity=}, {len(tickers)} tickers, {len(sectors)} sectors)")
        self.tickers, self.sectors, self.timeframe = tuple(tickers), tuple(sectors), timeframe
        self.capacity = capacity
        n, size = len(tickers), 2 * capacity
        self._ts = np.zeros(size, np.int64)
        self._data = {f: np.full((size, n), np.nan) for f in _FIELDS}
        self._start = self._end = 0
        self._series = {name: np.full(size, np.nan) for name, on in (("benchmark", benchmark), ("vix", vix)) if on}
        self._last = {name: np.nan for name in self._series}

    def __len__(self) -> int:
        return self._end - self._start

    def append(self, timestamp_ns: int, open: Float64Array, high: Float64Array, low: Float64Array,
               close: Float64Array, volume: Float64Array, series: dict[str, float] | None = None) -> int:
        """Add the cross-section of ``timestamp_ns`` (NaN = no bar; volume 0); return its row.

        ``series`` holds the benchmark's and the volatility index's closes at this time (NaN or
        absent: the last known value carries forward, as the backtest's market does).

        Raises
        ------
        LiveError
            If the timestamp is not after the last one.
        """
        if self._end > self._start and timestamp_ns <= int(self._ts[self._end - 1]):
            last = int(self._ts[self._end - 1])
            raise LiveError(f"cross-section at {timestamp_ns} is not after the last one ({last})")
        if self._end == self._ts.shape[0]:
            keep = self.capacity - 1
            self._ts[:keep] = self._ts[self._end - keep:self._end]
            for a in (*self._data.values(), *self._series.values()):
                a[:keep] = a[self._end - keep:self._end]
            self._start, self._end = 0, keep
        e = self._end
        self._ts[e] = timestamp_ns
        for name, row in zip(_FIELDS, (open, high, low, close, volume), strict=True):
            self._data[name][e] = row
        for name, a in self._series.items():
            v = (series or {}).get(name, np.nan)
            if np.isfinite(v):
                self._last[name] = v
            a[e] = self._last[name]
        self._end = e + 1
        if self._end - self._start > self.capacity:
            self._start += 1
        return len(self) - 1

    def append_bars(self, market: BarArrays) -> int:
        """Append every row of an assembled market (history: a warm start); return how many.

        Raises
        ------
        LiveError
            If its tickers are not the window's, or a timestamp is not after the last one.
        """
        if market.tickers != self.tickers:
            raise LiveError(f"assembled tickers {market.tickers} are not the window's {self.tickers}")
        for k, t in enumerate(market.timestamps.tolist()):
            self.append(t, market.open[k], market.high[k], market.low[k], market.close[k], market.volume[k],
                        {name: float(a[k]) for name, a in market.series.items()})
        return int(market.timestamps.shape[0])

    @property
    def present(self) -> BoolArray:
        """``(rows, n)``: True where the ticker had a bar."""
        return present(self.close)

    @property
    def timestamps(self) -> Int64Array:
        """Bar start times, oldest first."""
        return self._ts[self._start:self._end]

    def _field(self, name: str) -> Float64Array:
        return self._data[name][self._start:self._end]

    @property
    def benchmark(self) -> Float64Array | None:
        """The benchmark's closes ``(rows,)`` (forward-filled), or ``None`` without one."""
        a = self._series.get("benchmark")
        return None if a is None else a[self._start:self._end]

    @property
    def vix(self) -> Float64Array | None:
        """The volatility index's closes ``(rows,)`` (forward-filled), or ``None`` without one."""
        a = self._series.get("vix")
        return None if a is None else a[self._start:self._end]

    @property
    def open(self) -> Float64Array:
        """Opens ``(rows, n)``."""
        return self._field("open")

    @property
    def high(self) -> Float64Array:
        """Highs ``(rows, n)``."""
        return self._field("high")

    @property
    def low(self) -> Float64Array:
        """Lows ``(rows, n)``."""
        return self._field("low")

    @property
    def close(self) -> Float64Array:
        """Closes ``(rows, n)``."""
        return self._field("close")

    @property
    def volume(self) -> Float64Array:
        """Volumes ``(rows, n)``."""
        return self._field("volume")
