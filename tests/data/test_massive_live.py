"""The live Massive source against a loopback fake, driven by the official ``massive`` client."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pandas as pd
import pytest
from fakes.massive_server import FakeMassive, am
from pydantic import SecretStr
from sqlalchemy import Engine

from tests.waiting import eventually
from tftrade.core.clock import SimulatedClock
from tftrade.data.endpoints import VendorEndpoints
from tftrade.data.massive import MassiveAuthError, MassiveConfig, MassiveSource
from tftrade.live.ingest_worker import IngestWorker, IngestWorkerConfig
from tftrade.store.bars import read_bars
from tftrade.store.runs import list_quarantine
from tftrade.stream.memory import InMemoryBus
from tftrade.stream.messages import BarMessage

T0 = int(pd.Timestamp("2024-01-02 15:00", tz="UTC").value)
T0_MS = T0 // 1_000_000
MIN_MS = 60_000
FAST = MassiveConfig(initial_backoff_s=0.05, max_backoff_s=0.2, backfill_minutes=30, rest_retries=3)



@pytest.fixture
def fake() -> Iterator[FakeMassive]:
    server = FakeMassive().start()
    yield server
    server.stop()


def endpoints(fake: FakeMassive, key: str = "test-key") -> VendorEndpoints:
    return VendorEndpoints(massive_rest_url=fake.rest_url, massive_ws_url=fake.ws_url, polygon_api_key=SecretStr(key))


def minutes(bus: InMemoryBus) -> list[int]:
    bus.subscribe("market_data", "probe", "p")
    out = []
    while batch := bus.read("market_data", "probe", "p", count=1000, block_ms=0):
        out += [(d.message.start_ns - T0) // 60_000_000_000 for d in batch if isinstance(d.message, BarMessage)]
    return out


def test_stream_with_disconnect_gap_duplicates_out_of_order_and_malformed_frames(
        fake: FakeMassive, sqlite_engine: Engine) -> None:
    fake.add_bars("AAPL", [T0_MS + k * MIN_MS for k in range(5)])
    bus = InMemoryBus()
    clock = SimulatedClock(T0 + 30 * 60_000_000_000)
    source = MassiveSource(bus, endpoints(fake), ["AAPL"], config=FAST, clock=clock)
    worker = IngestWorker(bus, sqlite_engine, IngestWorkerConfig(count=50, block_ms=20))
    stop = threading.Event()
    threads = [threading.Thread(target=source.run, args=(stop,), daemon=True),
               threading.Thread(target=worker.run, args=(stop,), daemon=True)]
    for t in threads:
        t.start()
    try:
        fake.wait_subscribed()
        eventually(lambda: source.stats.backfill_bars == 5)  # the start-up backfill
        assert fake.subscriptions == ["AM.AAPL"]
        fake.send([am("AAPL", T0_MS + 5 * MIN_MS), am("AAPL", T0_MS + 6 * MIN_MS)])
        fake.send("this is not json")
        fake.send([am("AAPL", T0_MS + 6 * MIN_MS)])  # duplicate
        fake.send([am("AAPL", T0_MS + 7 * MIN_MS, o="oops")])  # malformed field
        eventually(lambda: source.stats.malformed == 2 and source.stats.bars == 8)
        fake.add_bars("AAPL", [T0_MS + 7 * MIN_MS, T0_MS + 8 * MIN_MS])  # the gap only REST has
        fake.drop()
        eventually(lambda: source.stats.connects == 2 and source.stats.backfill_bars == 7)
        fake.wait_subscribed()
        fake.send([am("AAPL", T0_MS + 9 * MIN_MS), am("AAPL", T0_MS + 3 * MIN_MS)])  # 3 is out of order
        eventually(lambda: worker.counters.messages == source.stats.bars + source.stats.malformed)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    stored = read_bars(sqlite_engine, ["AAPL"])
    got = ((stored["window_start"] - pd.Timestamp(T0, tz="UTC")) // pd.Timedelta("1min")).tolist()
    assert got == list(range(10))  # nothing lost, nothing doubled
    assert source.stats.disconnects == 1 and source.stats.late >= 1 and fake.connections == 2
    assert worker.counters.duplicates == 2 and worker.counters.quarantined == 2
    reasons = [r["reason"] for r in list_quarantine(sqlite_engine)["rows"]]
    assert any("not JSON" in r for r in reasons) and any("field 'o': 'oops'" in r for r in reasons)
    backfills = [p for p in fake.rest_requests if "/v2/aggs/ticker/AAPL/range/1/minute/" in p]
    assert str(T0_MS + 7 * MIN_MS) in backfills[-1]  # the second backfill starts after the newest bar seen


def test_auth_failure_stops_with_a_clear_error_and_no_retry_storm(fake: FakeMassive) -> None:
    source = MassiveSource(InMemoryBus(), endpoints(fake, key="wrong"), ["AAPL"], config=FAST)
    with pytest.raises(MassiveAuthError, match="rejected the API key"):
        source.run(threading.Event())
    assert fake.auth_attempts == 1 and source.stats.auth_failures == 1


def test_backfill_follows_next_url_pages_and_rides_out_429s(fake: FakeMassive) -> None:
    fake.add_bars("MSFT", [T0_MS + k * MIN_MS for k in range(10)])
    for _ in range(2):
        fake.fail_next(429, headers={"Retry-After": "0", "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                                     "X-RateLimit-Reset": str(T0_MS // 1000 + 60)})
    bus = InMemoryBus()
    source = MassiveSource(bus, endpoints(fake), ["MSFT"], config=FAST, clock=SimulatedClock(T0 + 20 * 60 * 10**9))
    assert source.backfill() == 10
    assert minutes(bus) == list(range(10))
    assert len(fake.rest_requests) == 2 + 4  # two 429s, then four pages of three


def test_5xx_after_the_retries_leaves_the_gap_open_and_the_next_backfill_fills_it(fake: FakeMassive) -> None:
    fake.add_bars("NVDA", [T0_MS + k * MIN_MS for k in range(4)])
    for _ in range(4):  # the first try and three retries
        fake.fail_next(503)
    bus = InMemoryBus()
    events: list[dict[str, object]] = []
    source = MassiveSource(bus, endpoints(fake), ["NVDA"], config=FAST, clock=SimulatedClock(T0 + 20 * 60 * 10**9),
                           on_event=events.append)
    assert source.backfill() == 0
    assert source.stats.rest_errors == 1 and source.stats.unfilled == ["NVDA"]
    assert any(e["event"] == "backfill_failed" for e in events)
    assert source.backfill() == 4 and source.stats.unfilled == []
    assert minutes(bus) == [0, 1, 2, 3]


def test_an_unreachable_feed_is_retried_with_capped_backoff_until_stopped() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ep = VendorEndpoints(massive_rest_url=f"http://127.0.0.1:{port}", massive_ws_url=f"ws://127.0.0.1:{port}",
                         polygon_api_key=SecretStr("k"))
    events: list[dict[str, object]] = []
    source = MassiveSource(InMemoryBus(), ep, ["AAPL"], config=FAST, on_event=events.append)
    stop = threading.Event()
    t = threading.Thread(target=source.run, args=(stop,), daemon=True)
    t.start()
    eventually(lambda: source.stats.connect_failures >= 4)
    stop.set()
    t.join(10)
    assert not t.is_alive()
    delays = [e["retry_in_s"] for e in events if e["event"] == "connect_failed"]
    assert delays[:3] == [0.05, 0.1, 0.2] and max(delays) == 0.2
