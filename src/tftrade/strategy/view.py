"""What a strategy may see at step ``t``: the market up to and including ``t``, nothing later.

:class:`MarketView` hands out slices that end at row ``t``; there is no accessor for later rows,
so look-ahead is impossible by construction (and tested by appending future bars).

The view reads any :class:`MarketFrame`: the backtest's whole history
(:class:`~tftrade.backtest.market.MarketData`) or the live loop's rolling window of recent bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tftrade.core.types import Float64Array, Int64Array, Timeframe


class MarketFrame(Protocol):
    """Aligned bars as ``(T, n)`` arrays, one row per timestamp (NaN = no bar), plus optional series.

    ``benchmark`` and ``vix`` are ``(T,)`` closes or ``None``.
    """

    @property
    def timestamps(self) -> Int64Array: ...
    @property
    def tickers(self) -> tuple[str, ...]: ...
    @property
    def sectors(self) -> tuple[str, ...]: ...
    @property
    def timeframe(self) -> Timeframe: ...
    @property
    def open(self) -> Float64Array: ...
    @property
    def high(self) -> Float64Array: ...
    @property
    def low(self) -> Float64Array: ...
    @property
    def close(self) -> Float64Array: ...
    @property
    def volume(self) -> Float64Array: ...
    @property
    def benchmark(self) -> Float64Array | None: ...
    @property
    def vix(self) -> Float64Array | None: ...


@dataclass(frozen=True, slots=True)
class MarketView:
    """The market as of row ``t`` (the bar that just closed)."""

    _market: MarketFrame
    t: int
    _last_close: Float64Array | None = None

    @property
    def now_ns(self) -> int:
        """Start time of the current bar (epoch ns UTC); decisions happen at its close."""
        return int(self._market.timestamps[self.t])

    @property
    def tickers(self) -> tuple[str, ...]:
        """Universe, in column order."""
        return self._market.tickers

    @property
    def sectors(self) -> tuple[str, ...]:
        """Sector of each ticker."""
        return self._market.sectors

    @property
    def timeframe(self) -> Timeframe:
        """Timeframe of the bars."""
        return self._market.timeframe

    def latest(self, field: str) -> Float64Array:
        """Row ``t`` of ``field`` (open, high, low, close, volume)."""
        out: Float64Array = getattr(self._market, field)[self.t]
        return out

    def history(self, field: str, lookback: int) -> Float64Array:
        """The last ``lookback`` rows of ``field`` up to and including ``t`` (fewer at the start)."""
        out: Float64Array = getattr(self._market, field)[max(0, self.t + 1 - lookback): self.t + 1]
        return out

    def benchmark_history(self, lookback: int) -> Float64Array | None:
        """The benchmark's closes over the last ``lookback`` rows, or ``None`` without a benchmark."""
        b = self._market.benchmark
        return None if b is None else b[max(0, self.t + 1 - lookback): self.t + 1]

    @property
    def vix(self) -> float:
        """The volatility index at ``t`` (NaN when unknown)."""
        v = self._market.vix
        return float("nan") if v is None else float(v[self.t])

    def last_prices(self) -> Float64Array:
        """Latest known close per ticker at ``t`` (the last non-NaN close; NaN if never traded)."""
        if self._last_close is not None:
            return self._last_close
        close: Float64Array = self._market.close
        row: Float64Array = close[self.t]
        if not np.isnan(row).any():
            return row
        hist = close[: self.t + 1]
        valid = ~np.isnan(hist)
        last = np.where(valid.any(axis=0), hist.shape[0] - 1 - np.argmax(valid[::-1], axis=0), 0)
        out: Float64Array = np.where(valid.any(axis=0), hist[last, np.arange(hist.shape[1])], np.nan)
        return out
