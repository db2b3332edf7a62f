"""Bus fixtures: every implementation of the port, with Redis on unique stream names per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tftrade.stream.bus import Bus
from tftrade.stream.memory import InMemoryBus

REDIS_URL = os.environ.get("TFTRADE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


def redis_or_skip():  # type: ignore[no-untyped-def]
    """A client on the test Redis; fails in CI and skips elsewhere when it is unreachable."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=False, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as e:
        if IN_CI:
            pytest.fail(f"Redis is required in CI and unreachable: {e}")
        pytest.skip(f"Redis unreachable: {e}")
    return client


@pytest.fixture
def redis_bus() -> Iterator[Bus]:
    from tftrade.stream.redis_bus import RedisStreamsBus

    bus = RedisStreamsBus(client=redis_or_skip(), prefix=f"test:{uuid.uuid4().hex}", reconnect_timeout_s=10)
    yield bus
    bus.delete_topics()
    bus.close()


@pytest.fixture
def packed_redis_bus() -> Iterator[Bus]:
    from tftrade.stream.redis_bus import RedisStreamsBus

    bus = RedisStreamsBus(client=redis_or_skip(), prefix=f"test:{uuid.uuid4().hex}", reconnect_timeout_s=10, pack=3)
    yield bus
    bus.delete_topics()
    bus.close()


@pytest.fixture(params=["memory", "redis", "redis-packed"])
def bus(request: pytest.FixtureRequest) -> Bus:
    """Every bus: the conformance suite runs over each."""
    if request.param == "memory":
        return InMemoryBus()
    return request.getfixturevalue("redis_bus" if request.param == "redis" else "packed_redis_bus")  # type: ignore[no-any-return]


@pytest.fixture
def redis_admin():  # type: ignore[no-untyped-def]
    """A plain client on the test Redis (skips, or fails in CI, when unreachable)."""
    client = redis_or_skip()
    yield client
    client.close()


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture(params=["memory", "redis"])
def unpacked_bus(request: pytest.FixtureRequest) -> Bus:
    """Buses whose pending state, counts and acks are per message (``pack=1``)."""
    if request.param == "memory":
        return InMemoryBus()
    return request.getfixturevalue("redis_bus")  # type: ignore[no-any-return]
