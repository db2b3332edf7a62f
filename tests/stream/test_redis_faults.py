"""Redis connections killed under a running publisher and ingest worker: nothing lost, nothing doubled."""

from __future__ import annotations

import threading
import time
import uuid

import pandas as pd
import pytest
from sqlalchemy import Engine

from tftrade.live.ingest_worker import IngestWorker, IngestWorkerConfig
from tftrade.store.bars import read_bars
from tftrade.stream.messages import BarMessage
from tftrade.stream.redis_bus import RedisStreamsBus, redis_client

T0 = int(pd.Timestamp("2024-01-02 14:30", tz="UTC").value)
MIN = 60_000_000_000
TICKERS = [f"T{k:03d}" for k in range(20)]


def kill_clients(admin, name: str) -> int:  # type: ignore[no-untyped-def]
    killed = 0
    for c in admin.client_list():
        if c.get("name") == name:
            killed += int(admin.execute_command("CLIENT", "KILL", "ID", c["id"]))
    return killed


@pytest.mark.integration
def test_connections_killed_mid_stream_lose_and_double_nothing(any_engine: Engine, redis_admin,  # type: ignore[no-untyped-def]
                                                           redis_url: str) -> None:
    admin = redis_admin
    prefix, tag = f"test:{uuid.uuid4().hex}", uuid.uuid4().hex[:8]
    pub = RedisStreamsBus(client=redis_client(redis_url, name=f"pub-{tag}"), prefix=prefix)
    sub = RedisStreamsBus(client=redis_client(redis_url, name=f"sub-{tag}"), prefix=prefix)
    worker = IngestWorker(sub, any_engine, IngestWorkerConfig(count=100, block_ms=50))
    stop = threading.Event()
    consumer = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    consumer.start()
    minutes = 100
    killed = 0
    try:
        for k in range(minutes):
            pub.publish_many("market_data", [BarMessage(t, T0 + k * MIN, 10.0, 11.0, 9.0, 10.5, 100.0, source="t")
                                             for t in TICKERS])
            if k % 25 == 10:  # kill both sides' connections, as a Redis restart would
                killed += kill_clients(admin, f"sub-{tag}") + kill_clients(admin, f"pub-{tag}")
            time.sleep(0.005)
        deadline = time.monotonic() + 60
        while worker.counters.inserted < minutes * len(TICKERS) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        consumer.join(20)
        pending = sub.pending("market_data", "ingest")
        sub.delete_topics()
        pub.close()
        sub.close()
    stored = read_bars(any_engine)
    assert killed >= 4
    assert len(stored) == minutes * len(TICKERS)
    assert not stored.duplicated(["ticker", "window_start"]).any()
    assert worker.counters.inserted == minutes * len(TICKERS) and pending == 0
    opened = sub.stats()["connects"] + pub.stats()["connects"]
    assert opened >= 2 + 4  # the first two connections, then at least one replacement per kill round
