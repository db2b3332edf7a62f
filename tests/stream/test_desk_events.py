"""The desk's event list: several writers (the trade worker, API processes) lose nothing and share one sequence."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from tests.stream.conftest import redis_or_skip
from tftrade.core.clock import SimulatedClock
from tftrade.stream.cache import Cache, InMemoryCache, RedisCache
from tftrade.stream.desk import MAX_EVENTS, Desk


@pytest.fixture(params=["memory", "redis"])
def caches(request: pytest.FixtureRequest) -> Iterator[tuple[Cache, Cache]]:
    """Two handles on one cache: the same object in memory, two Redis connections (as two processes)."""
    if request.param == "memory":
        c = InMemoryCache()
        yield c, c
        return
    prefix = f"test:desk:{uuid.uuid4().hex}"
    a, b = redis_or_skip(), redis_or_skip()
    yield RedisCache(client=a, prefix=prefix), RedisCache(client=b, prefix=prefix)
    for key in a.scan_iter(f"{prefix}:*"):
        a.delete(key)
    a.close()
    b.close()


def test_concurrent_writers_lose_no_event_and_never_share_a_seq(caches: tuple[Cache, Cache]) -> None:
    desks = [Desk(c, SimulatedClock(7)) for c in caches]
    per_writer = 150

    def write(k: int) -> None:
        for i in range(per_writer):
            desks[k].event("paused", f"w{k}-{i}", writer=k, at=i)

    threads = [threading.Thread(target=write, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = desks[1].events()
    assert [e["seq"] for e in events] == list(range(1, 2 * per_writer + 1))
    assert sorted(e["message"] for e in events) == sorted(f"w{k}-{i}" for k in (0, 1) for i in range(per_writer))
    for k in (0, 1):  # each writer's events keep their order
        mine = [e["detail"]["at"] for e in events if e["detail"]["writer"] == k]
        assert mine == list(range(per_writer))
    assert desks[0].events(after_seq=2 * per_writer - 1)[0]["seq"] == 2 * per_writer


def test_the_list_keeps_the_newest_events_and_counts_on(caches: tuple[Cache, Cache]) -> None:
    desk = Desk(caches[0], SimulatedClock(1_700_000_000_123_456_789))
    for i in range(MAX_EVENTS + 5):
        desk.event("resumed", f"e{i}")
    events = Desk(caches[1], SimulatedClock(0)).events()
    assert len(events) == MAX_EVENTS
    assert events[0]["seq"] == 6 and events[-1]["seq"] == MAX_EVENTS + 5
    assert events[-1]["at_ns"] == 1_700_000_000_123_456_789  # nanoseconds survive exactly
    assert desk.event("kill_switch", "x")["seq"] == MAX_EVENTS + 6
