"""Warm start: fill a worker's rolling window from the store, so a restart mid-session has its history.

A live worker that starts (or restarts) during a session would otherwise wait for ``window``
bars before the strategy's look-backs and the model's context are full. The bars the ingest
worker has stored are appended to the window as history (no decisions are made on them), and
the assembler treats anything at or before the last stored bar as already seen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from tftrade.features.market import assemble_bars
from tftrade.live.assembler import Assembler
from tftrade.live.window import RollingMarket

_SPAN = {"1min": timedelta(minutes=1), "5min": timedelta(minutes=5), "15min": timedelta(minutes=15),
         "30min": timedelta(minutes=30), "1h": timedelta(hours=1), "1day": timedelta(days=1)}


def warm_window(engine: Engine, window: RollingMarket, assembler: Assembler, until_ns: int | None = None) -> int:
    """Append the last ``window.capacity`` stored bars (up to ``until_ns``) to ``window``; return how many rows.

    The rows are :func:`~tftrade.features.market.assemble_bars` of the stored bars (the gap rule
    every mode shares), the assembler's series (benchmark, volatility index) included.
    """
    from tftrade.store.bars import read_bars

    span = _SPAN.get(window.timeframe, timedelta(minutes=1))
    end = None if until_ns is None else datetime.fromtimestamp(until_ns / 1e9, tz=UTC)
    # sessions are 390 minutes: look back far enough to cover the window across nights and weekends
    back = span * window.capacity * (1 if window.timeframe == "1day" else 4 if span.seconds <= 60 else 6) + timedelta(4)
    start = (end or datetime.now(UTC)) - back
    roles = {role: t for role, t in assembler.series.items() if getattr(window, role, None) is not None}
    bars = read_bars(engine, [*window.tickers, *roles.values()], window.timeframe, start, end)
    if bars.empty or not bars["ticker"].isin(window.tickers).any():
        return 0
    market = assemble_bars(bars, window.tickers, roles)
    rows = window.append_bars(market.rows(max(0, len(market.timestamps) - window.capacity)))
    assembler.last_closed = max(assembler.last_closed, int(market.timestamps[-1]))
    return rows
