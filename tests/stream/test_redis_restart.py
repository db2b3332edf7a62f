"""Redis itself restarting (a private redis-server, killed and started again) under a publisher and an ingest worker.

``test_redis_faults.py`` kills the clients' connections; here the server process goes away
(``SIGKILL``: no shutdown save) and comes back on the same port from its append-only file, as
a crashed or restarted Redis does. Nothing may be lost or doubled in the store.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import redis
from sqlalchemy import Engine

from tftrade.live.ingest_worker import IngestWorker, IngestWorkerConfig
from tftrade.store.bars import read_bars
from tftrade.stream.messages import BarMessage
from tftrade.stream.redis_bus import RedisStreamsBus

T0 = int(pd.Timestamp("2024-01-02 14:30", tz="UTC").value)
MIN = 60_000_000_000
TICKERS = [f"T{k:02d}" for k in range(10)]


class PrivateRedis:
    """A redis-server of this test's own (append-only, fsync always), restartable on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
             "--appendonly", "yes", "--appendfsync", "always"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        while client.info("persistence").get("loading"):  # the append-only file is read back
            time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    srv = PrivateRedis(tmp_path)
    srv.start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.kill()


@pytest.mark.integration
def test_a_redis_restart_under_a_running_worker_loses_and_doubles_nothing(server: PrivateRedis,
                                                                         any_engine: Engine) -> None:
    pub = RedisStreamsBus(server.url, prefix="restart")
    sub = RedisStreamsBus(server.url, prefix="restart")
    worker = IngestWorker(sub, any_engine, IngestWorkerConfig(count=50, block_ms=50))
    stop = threading.Event()
    consumer = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    consumer.start()
    minutes = 60
    try:
        for k in range(minutes):
            pub.publish_many("market_data", [BarMessage(t, T0 + k * MIN, 10.0, 11.0, 9.0, 10.5, 100.0, source="t")
                                             for t in TICKERS])
            if k in (20, 40):  # Redis dies with bars published and not yet read or acked, and comes back
                server.kill()
                time.sleep(0.5)
                server.start()
        deadline = time.monotonic() + 60
        while worker.counters.inserted < minutes * len(TICKERS) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        consumer.join(30)
        pending = sub.pending("market_data", "ingest")
        pub.close()
        sub.close()
    stored = read_bars(any_engine)
    assert len(stored) == minutes * len(TICKERS)
    assert not stored.duplicated(["ticker", "window_start"]).any()
    assert pending == 0
    assert sub.stats()["reconnects"] >= 2, sub.stats()  # the worker saw both outages and rode them out
    assert pub.stats()["connects"] >= 3, pub.stats()  # the publisher connected again after each restart
