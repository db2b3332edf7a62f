"""Warm start: fill a worker's rolling window from the store, so a restart mid-session has its history.

A live worker that starts (or restarts) during a session would otherwise wait for ``window``
bars before the strategy's look-backs and the model's context are full. The bars the ingest
worker has stored are appended to the window as history (no decisions are made on them), and
the assembler treats anything at or before the last stored bar as already seen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import Engine

from tftrade.live.assembler import Assembler
from tftrade.live.window import RollingMarket

_SPAN = {"1min": timedelta(minutes=1), "1day": timedelta(days=1)}


def warm_window(engine: Engine, window: RollingMarket, assembler: Assembler, until_ns: int | None = None) -> int:
    """Append the last ``window.capacity`` stored bars (up to ``until_ns``) to ``window``; return how many rows.

    Timestamps missing for a ticker are gaps (NaN), as in the backtest's market.
    """
    from tftrade.store.bars import read_bars

    span = _SPAN.get(window.timeframe, timedelta(minutes=1))
    end = None if until_ns is None else datetime.fromtimestamp(until_ns / 1e9, tz=UTC)
    # sessions are 390 minutes: look back far enough to cover the window across nights and weekends
    back = span * window.capacity * (1 if window.timeframe == "1day" else 4) + timedelta(days=4)
    start = (end or datetime.now(UTC)) - back
    bars = read_bars(engine, list(window.tickers), window.timeframe, start, end)
    if bars.empty:
        return 0
    ts = np.asarray(bars["window_start"].to_numpy(dtype="datetime64[ns]").astype(np.int64))
    times = np.unique(ts)[-window.capacity:]
    keep = ts >= times[0]
    rows = np.searchsorted(times, ts[keep])
    col = {t: i for i, t in enumerate(window.tickers)}
    cols = np.array([col[t] for t in bars["ticker"][keep]])
    n = len(window.tickers)
    arrays = {}
    for name in ("open", "high", "low", "close", "volume"):
        a = np.full((times.shape[0], n), 0.0 if name == "volume" else np.nan)
        a[rows, cols] = bars[name].to_numpy(np.float64)[keep]
        arrays[name] = a
    for k, t in enumerate(times.tolist()):
        window.append(t, *(arrays[f][k] for f in ("open", "high", "low", "close", "volume")))
    assembler.last_closed = max(assembler.last_closed, int(times[-1]))
    return int(times.shape[0])
