"""Replay stored bars onto ``market_data``: every ticker's bar of a minute, minute after minute.

A thin adapter until the data package's replay source lands on this branch: it publishes
:class:`~tftrade.stream.messages.BarMessage` records through exactly the path a live source
uses, at ``speed`` × real time (one bar interval / ``speed`` between cross-sections) or as
fast as possible (``speed=None``). Missing bars (NaN) are not published.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from tftrade.strategy.view import MarketFrame
from tftrade.stream.bus import Bus
from tftrade.stream.messages import BarMessage

_INTERVAL_S = {"1min": 60.0, "1day": 86_400.0}


def replay_bars(bus: Bus, market: MarketFrame, *, speed: float | None = None, stop: threading.Event | None = None,
                sleep: Callable[[float], None] = time.sleep, source: str = "replay",
                series: dict[str, str] | None = None) -> int:
    """Publish every bar of ``market`` in time order; return how many were published.

    ``series`` (role → ticker) also publishes the market's ``benchmark`` and ``vix`` closes as
    bars of those tickers (open = high = low = close, volume 0).
    """
    gap = None if speed is None else _INTERVAL_S.get(market.timeframe, 60.0) / speed
    tickers, published = market.tickers, 0
    o, h, lo, c, v = market.open, market.high, market.low, market.close, market.volume
    for t, ts in enumerate(market.timestamps.tolist()):
        if stop is not None and stop.is_set():
            break
        now = time.time_ns()
        ok = np.flatnonzero(np.isfinite(c[t])).tolist()
        msgs = []
        for role, ticker in (series or {}).items():  # first: a cross-section closes once the universe is in
            values = getattr(market, role)
            if values is not None and np.isfinite(values[t]):
                x = float(values[t])
                msgs.append(BarMessage(ticker, ts, x, x, x, x, 0.0, market.timeframe, source=source, received_ns=now))
        msgs += [BarMessage(tickers[i], ts, float(o[t, i]), float(h[t, i]), float(lo[t, i]), float(c[t, i]),
                            float(v[t, i]), market.timeframe, source=source, received_ns=now) for i in ok]
        if msgs:
            bus.publish_many("market_data", msgs)
            published += len(msgs)
        if gap:
            sleep(gap)
    return published
