"""Market data as cross-sections: ``(T, n)`` arrays of one timeframe, one row per timestamp.

A missing bar (ticker not trading, not yet listed) is NaN in every price field and 0 volume;
strategies, the broker and the gate all treat NaN as "no price now".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from tftrade.backtest.errors import BacktestError
from tftrade.core.types import Float64Array, Int64Array, Timeframe

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
    ts = pd.DatetimeIndex(pd.to_datetime(bars["window_start"], utc=True)).as_unit("ns").asi8
    frame = bars.assign(ts=ts)
    universe = frame[~frame["ticker"].isin(specials) & ~frame["ticker"].str.startswith("^")]
    if universe.empty:
        raise BacktestError("no tradable tickers in the bars (only indices)")
    times = np.unique(universe["ts"].to_numpy(np.int64))
    tickers = tuple(sorted(universe["ticker"].unique()))
    row = np.searchsorted(times, universe["ts"].to_numpy(np.int64))
    col = pd.Index(tickers).get_indexer(universe["ticker"])
    arrays: dict[str, Float64Array] = {}
    for name in FIELDS:
        a = np.full((times.shape[0], len(tickers)), 0.0 if name == "volume" else np.nan)
        a[row, col] = universe[name].to_numpy(np.float64)
        arrays[name] = a
    sec = sectors or {}
    return MarketData(
        timestamps=times.astype(np.int64), tickers=tickers,
        sectors=tuple(sec.get(t, "Unknown") or "Unknown" for t in tickers),
        timeframe=timeframe, benchmark=_series(frame, benchmark, times), vix=_series(frame, vix, times),
        benchmark_name=benchmark or "", **arrays,
    )


def _series(frame: pd.DataFrame, ticker: str | None, times: Int64Array) -> Float64Array | None:
    if not ticker:
        return None
    rows = frame[frame["ticker"] == ticker].sort_values("ts")
    if rows.empty:
        return None
    s = pd.Series(rows["close"].to_numpy(np.float64), index=rows["ts"].to_numpy(np.int64))
    return np.asarray(s.reindex(s.index.union(times)).ffill().reindex(times).to_numpy(np.float64))


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
    from tftrade.store.bars import read_bars
    from tftrade.store.securities import read_securities

    wanted = None if not tickers else [*tickers, *(s for s in (benchmark, vix, "^GSPC", "^MKT") if s)]
    bars = read_bars(engine, wanted, timeframe, start, end)
    if bars.empty:
        raise BacktestError(f"no {timeframe} bars stored in the requested range; ingest some first")
    stored = set(bars["ticker"].unique())
    missing = sorted({t.upper() for t in tickers or ()} - stored)
    if missing:
        raise BacktestError(f"no {timeframe} bars stored for {', '.join(missing)}; ingest them first")
    if benchmark is None:
        benchmark = next((b for b in ("^GSPC", "^MKT") if b in stored), None)
    elif benchmark not in stored:
        raise BacktestError(f"benchmark {benchmark} has no {timeframe} bars stored")
    sectors = {s.ticker: s.sector or "Unknown" for s in read_securities(engine)}
    return from_frame(bars, timeframe=timeframe, sectors=sectors, benchmark=benchmark,
                      vix=vix if vix in stored else None)
