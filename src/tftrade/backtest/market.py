"""Market data as cross-sections: ``(T, n)`` arrays of one timeframe, one row per timestamp.

The arrays come from :func:`tftrade.features.market.assemble_bars`, whose gap rule every mode
shares: a missing bar (ticker not trading, not yet listed) is NaN in every price field and 0
volume; strategies, the broker and the gate all treat NaN as "no price now".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from tftrade.backtest.errors import BacktestError
from tftrade.core.types import BoolArray, Float64Array, Int64Array, Timeframe
from tftrade.features.market import BarArrays, assemble_bars
from tftrade.features.market import present as bars_present
from tftrade.features.stored import StoredMarket

FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class MarketData:
    """Aligned bars of ``n`` tickers over ``T`` timestamps, plus optional benchmark and VIX series.

    ``benchmark`` holds the benchmark's closes and ``vix`` the volatility index's closes, both
    ``(T,)`` and forward-filled onto the timestamps (NaN before their first value).
    """

    timestamps: Int64Array
    tickers: tuple[str, ...]
    sectors: tuple[str, ...]
    open: Float64Array
    high: Float64Array
    low: Float64Array
    close: Float64Array
    volume: Float64Array
    timeframe: Timeframe = "1day"
    benchmark: Float64Array | None = None
    vix: Float64Array | None = None
    benchmark_name: str = ""

    def __post_init__(self) -> None:
        t, n = self.timestamps.shape[0], len(self.tickers)
        if t == 0 or n == 0:
            raise BacktestError(f"market data is empty ({t} timestamps, {n} tickers)")
        if len(self.sectors) != n:
            raise BacktestError(f"{len(self.sectors)} sectors for {n} tickers")
        if np.any(np.diff(self.timestamps) <= 0):
            raise BacktestError("timestamps must be strictly increasing")
        for name in FIELDS:
            if getattr(self, name).shape != (t, n):
                raise BacktestError(f"{name} has shape {getattr(self, name).shape}, expected {(t, n)}")
        for name in ("benchmark", "vix"):
            series = getattr(self, name)
            if series is not None and series.shape != (t,):
                raise BacktestError(f"{name} has shape {series.shape}, expected {(t,)}")

    @property
    def n_times(self) -> int:
        """Number of timestamps ``T``."""
        return int(self.timestamps.shape[0])

    @property
    def present(self) -> BoolArray:
        """``(T, n)``: True where the ticker has a bar (the gap rule of :mod:`tftrade.features.market`)."""
        return bars_present(self.close)

    @property
    def n_tickers(self) -> int:
        """Number of tickers ``n``."""
        return len(self.tickers)

    def head(self, end: int) -> MarketData:
        """Return the first ``end`` timestamps (views, no copies)."""
        return self.rows(0, end)

    def rows(self, start: int, end: int) -> MarketData:
        """Return timestamps ``[start, end)`` (views, no copies)."""
        if not 0 <= start < end <= self.n_times:
            raise BacktestError(f"rows [{start}, {end}) outside [0, {self.n_times}]")
        s = slice(start, end)
        return replace(
            self, timestamps=self.timestamps[s], open=self.open[s], high=self.high[s], low=self.low[s],
            close=self.close[s], volume=self.volume[s],
            benchmark=None if self.benchmark is None else self.benchmark[s],
            vix=None if self.vix is None else self.vix[s],
        )


def from_frame(
    bars: pd.DataFrame,
    *,
    timeframe: Timeframe,
    sectors: dict[str, str] | None = None,
    benchmark: str | None = None,
    vix: str | None = None,
) -> MarketData:
    """Pivot a long frame of bars (``ticker, window_start, open, high, low, close, volume``) into arrays.

    Rows of ``benchmark`` and ``vix`` are taken out of the universe and become the series.

    Raises
    ------
    BacktestError
        If a column is missing or no tradable ticker remains.
    """
    missing = [c for c in ("ticker", "window_start", *FIELDS) if c not in bars.columns]
    if missing:
        raise BacktestError(f"bars lack column(s) {', '.join(missing)}")
    specials = {s for s in (benchmark, vix) if s}
    names = bars["ticker"].astype(str)
    universe = sorted(set(names[~names.isin(specials) & ~names.str.startswith("^")]))
    if not universe:
        raise BacktestError("no tradable tickers in the bars (only indices)")
    roles = {role: t for role, t in (("benchmark", benchmark), ("vix", vix)) if t}
    return from_arrays(assemble_bars(bars, universe, roles), timeframe=timeframe, sectors=sectors,
                       benchmark_name=benchmark or "")


def from_arrays(market: BarArrays, *, timeframe: Timeframe, sectors: dict[str, str] | None = None,
                benchmark_name: str = "") -> MarketData:
    """:class:`MarketData` of an assembled market (:func:`tftrade.features.market.assemble_bars`)."""
    sec = sectors or {}
    return MarketData(
        timestamps=market.timestamps, tickers=market.tickers,
        sectors=tuple(sec.get(t, "Unknown") or "Unknown" for t in market.tickers), timeframe=timeframe,
        open=market.open, high=market.high, low=market.low, close=market.close, volume=market.volume,
        benchmark=market.series.get("benchmark"), vix=market.series.get("vix"), benchmark_name=benchmark_name,
    )


def load_market(
    engine: Engine,
    *,
    tickers: Sequence[str] | None = None,
    timeframe: Timeframe = "1day",
    start: datetime | None = None,
    end: datetime | None = None,
    benchmark: str | None = None,
    vix: str | None = "^VIX",
) -> MarketData:
    """Load bars from the store into :class:`MarketData`; sectors come from the securities master.

    ``benchmark`` defaults to ``^GSPC`` when stored, else ``^MKT`` (the synthetic market's index),
    else none.

    Raises
    ------
    BacktestError
        If the store holds no bars of ``timeframe`` in the range, or none for a requested ticker.
    """
    stored = read_stored(engine, tickers=tickers, timeframe=timeframe, start=start, end=end, benchmark=benchmark,
                         vix=vix)
    return market_of(stored, tickers=tickers, benchmark=benchmark, vix=vix)


def read_stored(
    engine: Engine, *, tickers: Sequence[str] | None = None, timeframe: Timeframe = "1day",
    start: datetime | None = None, end: datetime | None = None, benchmark: str | None = None,
    vix: str | None = "^VIX",
) -> StoredMarket:
    """Read what a backtest of ``tickers`` needs from the store once: their bars, the benchmark's and the
    volatility index's (and the default benchmarks'), the sectors; sentiment when first used."""
    wanted = None if not tickers else [*tickers, *(s for s in (benchmark, vix, "^GSPC", "^MKT") if s)]
    return StoredMarket.read(engine, wanted, timeframe, start, end)


def market_of(
    stored: StoredMarket, *, tickers: Sequence[str] | None = None, benchmark: str | None = None,
    vix: str | None = "^VIX", end_ns: int | None = None,
) -> MarketData:
    """:class:`MarketData` of a store read (bars before ``end_ns`` when given; see :func:`load_market`).

    Raises
    ------
    BacktestError
        If no bars are left, or none for a requested ticker, or the benchmark has none.
    """
    bars = stored.before(end_ns).bars
    timeframe = stored.timeframe
    if tickers:
        bars = bars[bars["ticker"].isin([*(t.upper() for t in tickers), *(s.upper() for s in (benchmark, vix, "^GSPC",
                                                                                              "^MKT") if s)])]
    if bars.empty:
        raise BacktestError(f"no {timeframe} bars stored in the requested range; ingest some first")
    present = set(bars["ticker"].unique())
    missing = sorted({t.upper() for t in tickers or ()} - present)
    if missing:
        raise BacktestError(f"no {timeframe} bars stored for {', '.join(missing)}; ingest them first")
    if benchmark is None:
        benchmark = next((b for b in ("^GSPC", "^MKT") if b in present), None)
    elif benchmark not in present:
        raise BacktestError(f"benchmark {benchmark} has no {timeframe} bars stored")
    return from_frame(bars, timeframe=timeframe, sectors=stored.sectors, benchmark=benchmark,
                      vix=vix if vix in present else None)
