"""Warm start: fill a worker's rolling window from the store, so a restart mid-session has its history.

A live worker that starts (or restarts) during a session would otherwise wait for ``window``
bars before the strategy's look-backs and the model's context are full. The bars the ingest
worker has stored are appended to the window as history (no decisions are made on them), and
the assembler treats anything at or before the last stored bar as already seen.

:func:`warm_window` reads the bars it needs; :func:`warm_from` takes them from bars already read
(a live start reads the store once for the universe and every window: :mod:`tftrade.live.start`).
Both select the same rows: :func:`warm_span` and :func:`warm_tickers`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine

from tftrade.features.market import assemble_bars, bar_times
from tftrade.live.assembler import Assembler
from tftrade.live.window import RollingMarket

_SPAN = {"1min": timedelta(minutes=1), "5min": timedelta(minutes=5), "15min": timedelta(minutes=15),
         "30min": timedelta(minutes=30), "1h": timedelta(hours=1), "1day": timedelta(days=1)}


def look_back(timeframe: str, capacity: int) -> timedelta:
    """How far before the end a warm read of ``capacity`` bars starts (sessions are 390 minutes: far enough
    to cover the window across nights and weekends)."""
    span = _SPAN.get(timeframe, timedelta(minutes=1))
    return span * capacity * (1 if timeframe == "1day" else 4 if span.seconds <= 60 else 6) + timedelta(4)


def warm_span(window: RollingMarket, until_ns: int | None = None,
              now: datetime | None = None) -> tuple[datetime, datetime | None]:
    """``[start, end)`` of the stored bars a warm start of ``window`` reads (``end`` ``None``: up to now)."""
    end = None if until_ns is None else datetime.fromtimestamp(until_ns / 1e9, tz=UTC)
    return (end or now or datetime.now(UTC)) - look_back(window.timeframe, window.capacity), end


def warm_tickers(window: RollingMarket, assembler: Assembler) -> dict[str, str]:
    """Role → ticker of the assembler's series the window carries (read with the window's tickers)."""
    return {role: t for role, t in assembler.series.items() if getattr(window, role, None) is not None}


def warm_window(engine: Engine, window: RollingMarket, assembler: Assembler, until_ns: int | None = None, *,
                now: datetime | None = None) -> int:
    """Append the last ``window.capacity`` stored bars (up to ``until_ns``) to ``window``; return how many rows.

    The rows are :func:`~tftrade.features.market.assemble_bars` of the stored bars (the gap rule
    every mode shares), the assembler's series (benchmark, volatility index) included. ``now``
    (default: the wall clock) ends the read when ``until_ns`` is not given.
    """
    from tftrade.store.bars import read_bars

    start, end = warm_span(window, until_ns, now)
    roles = warm_tickers(window, assembler)
    return _append(read_bars(engine, [*window.tickers, *roles.values()], window.timeframe, start, end), window,
                   assembler, roles)


def warm_from(bars: pd.DataFrame, window: RollingMarket, assembler: Assembler, until_ns: int | None = None, *,
              now: datetime | None = None) -> int:
    """:func:`warm_window` on ``bars`` already read (:func:`~tftrade.store.bars.read_bars` of the window's
    timeframe covering :func:`warm_span` and the window's tickers): the same rows, no query."""
    start, end = warm_span(window, until_ns, now)
    roles = warm_tickers(window, assembler)
    ts = bar_times(bars["window_start"])
    keep = bars["ticker"].isin([t.upper() for t in (*window.tickers, *roles.values())]).to_numpy(copy=True)
    keep &= ts >= pd.Timestamp(start).value
    if end is not None:
        keep &= ts < pd.Timestamp(end).value
    return _append(bars[keep], window, assembler, roles)


def _append(bars: pd.DataFrame, window: RollingMarket, assembler: Assembler, roles: dict[str, str]) -> int:
    if bars.empty or not bars["ticker"].isin(window.tickers).any():
        return 0
    market = assemble_bars(bars, window.tickers, roles)
    rows = window.append_bars(market.rows(max(0, len(market.timestamps) - window.capacity)))
    assembler.last_closed = max(assembler.last_closed, int(market.timestamps[-1]))
    return rows
