"""`tftrade worker trade` against Redis Streams: it trades what the bus carries, and only one may run."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pandas as pd
import pytest

from tftrade.backtest.market import load_market
from tftrade.data.ingest import ingest_synthetic
from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.live.app import LiveOptions, open_bus, run_worker
from tftrade.live.errors import LiveError
from tftrade.live.replay import replay_bars

from .conftest import redis_or_skip

pytestmark = pytest.mark.integration


class FixedClock:
    """A wall clock stopped at one instant (the session reads it)."""

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def now_ns(self) -> int:
        return self.ns


def test_the_trade_worker_trades_from_redis_and_a_second_one_is_refused(sqlite_engine: object) -> None:
    redis_or_skip()
    ingest_synthetic(sqlite_engine, generate_market(SyntheticConfig(n_tickers=4, days=1, seed=2)))  # type: ignore[arg-type]
    prefix = f"test:{uuid.uuid4().hex}"
    opts = LiveOptions(strategy="sma", redis_url="redis://127.0.0.1:6379/0", bus_prefix=prefix, cadence=1,
                       warm_start=False)
    market = load_market(sqlite_engine, timeframe="1min", vix=None)  # type: ignore[arg-type]
    bus = open_bus(opts.redis_url, prefix)
    stop, events, result = threading.Event(), [], {}
    noon = pd.Timestamp("2024-01-03 12:00", tz="America/New_York").value  # inside an XNYS session
    th = threading.Thread(target=lambda: result.update(run_worker("trade", sqlite_engine, opts, events.append,
                                                                  stop, FixedClock(noon))))  # type: ignore[arg-type]
    th.start()
    time.sleep(1.0)
    with pytest.raises(LiveError, match="only one trade worker may run"):
        run_worker("trade", sqlite_engine, opts, events.append, threading.Event())  # type: ignore[arg-type]
    replay_bars(bus, market.rows(0, 60))
    deadline = time.monotonic() + 60
    while not any(e.get("event") == "orders" for e in events) and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    th.join(30)
    assert result["worker"] == "trade" and result["steps"] >= 30 and result["orders"] > 0
    assert not result["lease_lost"] and result["decisions"] > 0


def test_no_decision_outside_the_session(sqlite_engine: object) -> None:
    redis_or_skip()
    ingest_synthetic(sqlite_engine, generate_market(SyntheticConfig(n_tickers=3, days=1, seed=2)))  # type: ignore[arg-type]
    prefix = f"test:{uuid.uuid4().hex}"
    opts = LiveOptions(strategy="sma", redis_url="redis://127.0.0.1:6379/0", bus_prefix=prefix, cadence=1,
                       warm_start=False)
    bus = open_bus(opts.redis_url, prefix)
    replay_bars(bus, load_market(sqlite_engine, timeframe="1min", vix=None).rows(0, 60))  # type: ignore[arg-type]
    sunday = pd.Timestamp("2024-01-07 12:00", tz="America/New_York").value
    stop, result = threading.Event(), {}
    th = threading.Thread(target=lambda: result.update(run_worker("trade", sqlite_engine, opts, lambda e: None,
                                                                  stop, FixedClock(sunday))))  # type: ignore[arg-type]
    th.start()
    time.sleep(3.0)
    stop.set()
    th.join(30)
    assert result["steps"] >= 50 and result["decisions"] == 0 and result["orders"] == 0
    bus.delete_topics()  # type: ignore[attr-defined]
    bus.close()
    assert np.isfinite(result["equity"])
    bus.delete_topics()  # type: ignore[attr-defined]
    bus.close()
