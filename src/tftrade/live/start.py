"""A live start's one read of the stored bars: the run's universe and the history of every warm window.

``tftrade live`` and ``tftrade worker`` need the stored bars twice as they start: the universe
(tickers, sectors, the first timestamp; :func:`~tftrade.backtest.market.load_market` over the
run's ``--start``/``--end``) and, with a warm start, each worker window's last stored bars
(:mod:`tftrade.live.warm`). :func:`read_start` reads the bars once, over the union of those
ranges, and hands each the rows it would have read itself: the same market, the same windows.
(Only when ``--end`` lies before the windows' look-back, so that the union would read the bars
between for nothing, do the windows read their own.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from tftrade.backtest.market import MarketData, market_of
from tftrade.core.types import Timeframe
from tftrade.features.market import bar_times
from tftrade.features.stored import StoredMarket
from tftrade.live.assembler import Assembler
from tftrade.live.warm import look_back, warm_from, warm_span, warm_tickers, warm_window
from tftrade.live.window import RollingMarket

_SERIES = ("^VIX", "^GSPC", "^MKT")
"""The volatility index and default benchmarks ``load_market`` reads with requested tickers."""


@dataclass(frozen=True)
class StartRead:
    """The bars read at a live start (:func:`read_start`), the run's market made from them, and what they cover."""

    market: MarketData
    bars: pd.DataFrame
    tickers: frozenset[str] | None
    """The tickers read (``None``: every ticker)."""
    start: datetime | None
    end: datetime | None
    now: datetime
    """The wall time of the read: the end of the warm windows' history."""

    def warm(self, engine: Engine, window: RollingMarket, assembler: Assembler) -> int:
        """:func:`~tftrade.live.warm.warm_window` of ``window`` from the bars read (a query only when they do
        not cover what the window needs); return how many rows were appended."""
        if self._covers(window, assembler):
            return warm_from(self.bars, window, assembler, now=self.now)
        return warm_window(engine, window, assembler, now=self.now)

    def _covers(self, window: RollingMarket, assembler: Assembler) -> bool:
        start, end = warm_span(window, now=self.now)
        names = {t.upper() for t in (*window.tickers, *warm_tickers(window, assembler).values())}
        return (window.timeframe == self.market.timeframe and (self.tickers is None or names <= self.tickers)
                and (self.start is None or self.start <= start)
                and (self.end is None or (end is not None and end <= self.end)))


def read_start(engine: Engine, tickers: Sequence[str], timeframe: Timeframe, start: datetime | None = None,
               end: datetime | None = None, *, warm: Sequence[int] = (), now: datetime | None = None) -> StartRead:
    """Read the bars once: the market ``load_market(engine, tickers=..., timeframe=..., start=..., end=...)``
    gives, and the history of warm windows of the capacities ``warm`` (none: no warm start).

    Raises
    ------
    BacktestError
        If the store holds no bars of ``timeframe`` in ``[start, end)``, or none for a requested ticker.
    """
    now = now or datetime.now(UTC)
    lo, hi = _utc(start), _utc(end)
    wanted = None if not tickers else frozenset(t.upper() for t in (*tickers, *_SERIES))
    read_lo, read_hi = lo, hi
    warm_lo = now - max((look_back(timeframe, c) for c in warm), default=timedelta(0))
    if warm and (hi is None or hi >= warm_lo):  # ranges apart (an old --end): the windows read their own
        read_hi = None  # a warm window reads up to now
        read_lo = None if lo is None else min(lo, warm_lo)
    stored = StoredMarket.read(engine, sorted(wanted) if wanted else None, timeframe, read_lo, read_hi)
    ts = bar_times(stored.bars["window_start"])
    inside = np.ones(ts.shape[0], dtype=bool)
    if lo is not None:
        inside &= ts >= pd.Timestamp(lo).value
    if hi is not None:
        inside &= ts < pd.Timestamp(hi).value
    run = stored if inside.all() else StoredMarket(stored.bars[inside], timeframe, stored.sectors, stored.sentiment)
    market = market_of(run, tickers=list(tickers) or None, vix="^VIX")
    return StartRead(market, stored.bars, wanted, read_lo, read_hi, now)


def _utc(t: datetime | None) -> datetime | None:
    """A time as UTC (naive times are UTC, as the store's)."""
    return None if t is None else (t.replace(tzinfo=UTC) if t.tzinfo is None else t)
