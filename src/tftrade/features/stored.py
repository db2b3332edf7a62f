"""Market data read from the store once per command: the bars, the sectors and the sentiment aggregates.

A command that trains and then trades (``tftrade backtest`` with the TFT), or builds several
panels (``predict`` groups tickers by their last bar), reads the store once into a
:class:`StoredMarket` and takes every array from it: the raw market by
:func:`~tftrade.features.market.assemble_bars`, sentiment by
:class:`~tftrade.features.bar_sentiment.SentimentWindows` (each window length read once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from tftrade.core.types import Timeframe
from tftrade.features.bar_sentiment import SentimentWindows
from tftrade.features.market import bar_times


@dataclass(frozen=True)
class StoredMarket:
    """Bars (the long frame of :func:`tftrade.store.bars.read_bars`), sectors and sentiment of one read."""

    bars: pd.DataFrame
    timeframe: Timeframe
    sectors: dict[str, str]
    """Ticker → sector from the securities master (``None`` sectors left out)."""
    sentiment: SentimentWindows

    @classmethod
    def read(cls, engine: Engine, tickers: Sequence[str] | None, timeframe: Timeframe,
             start: datetime | None = None, end: datetime | None = None) -> StoredMarket:
        """Read the bars of ``tickers`` (all when ``None``) in ``[start, end)``; sentiment is read when first used."""
        from tftrade.store.bars import read_bars
        from tftrade.store.securities import read_securities

        bars = read_bars(engine, list(tickers) if tickers else None, timeframe, start, end)
        sectors = {s.ticker: s.sector for s in read_securities(engine) if s.sector is not None}
        return cls.of(engine, bars, timeframe, sectors)

    @classmethod
    def of(cls, engine: Engine, bars: pd.DataFrame, timeframe: Timeframe,
           sectors: dict[str, str] | None = None) -> StoredMarket:
        """Bars already in memory, with the stored sentiment of their tickers and range (read when first used)."""
        names = sorted(str(t) for t in bars["ticker"].unique())
        ts = bar_times(bars["window_start"]) if len(bars) else np.zeros(0, np.int64)
        window = SentimentWindows.from_store(engine, names, int(ts.min()) if len(ts) else None,
                                             int(ts.max()) if len(ts) else None)
        return cls(bars, timeframe, dict(sectors or {}), window)

    def select(self, tickers: Sequence[str]) -> pd.DataFrame:
        """The bars of ``tickers``."""
        return self.bars[self.bars["ticker"].isin(list(tickers))]

    def before(self, end_ns: int | None) -> StoredMarket:
        """The same read, bars before ``end_ns`` only (sentiment shared)."""
        if end_ns is None:
            return self
        return replace(self, bars=self.bars[bar_times(self.bars["window_start"]) < end_ns])
