"""With Redis configured, every API process serves the same forecasts and desk state, and the service follows
the Redis Streams bus (real Redis, unique keys per test)."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis

from tftrade.core.clock import SimulatedClock
from tftrade.service.alerts import Alerter
from tftrade.service.metrics import Metrics
from tftrade.service.predictions import PredictionBook
from tftrade.service.watcher import Watcher
from tftrade.stream.cache import RedisCache
from tftrade.stream.desk import Desk
from tftrade.stream.messages import FillMessage, PredictionMessage

from .conftest import redis_client


def test_two_processes_share_predictions_and_desk_through_redis(prefix: str) -> None:
    a, b = RedisCache(client=redis_client(), prefix=prefix), RedisCache(client=redis_client(), prefix=prefix)
    book_a, book_b = PredictionBook(a), PredictionBook(b)
    assert json.loads(book_b.encoded())["count"] == 0
    book_a.update([{"ticker": "AAPL", "horizon": 1, "as_of_ns": 10**18, "q50": 0.002}])
    assert json.loads(book_b.encoded(["AAPL"]))["predictions"][0]["q50"] == 0.002
    clock = SimulatedClock(5)
    Desk(a, clock).publish("pnl", {"equity": 1.0})
    assert Desk(b, clock).read("pnl")["data"] == {"equity": 1.0}
    assert a.ping()
    assert not RedisCache("redis://127.0.0.1:1/0", socket_timeout=0.2).ping()


def test_the_service_follows_the_redis_bus(prefix: str) -> None:
    from tftrade.stream.redis_bus import RedisStreamsBus

    bus = RedisStreamsBus(client=redis.Redis(host="127.0.0.1", port=6379), prefix=prefix)
    clock = SimulatedClock(0)
    cache = RedisCache(client=redis_client(), prefix=prefix)
    book, metrics, events = PredictionBook(cache), Metrics(), []
    w = Watcher(Desk(cache, clock), book, metrics, Alerter([]), clock, events.append)
    stop, subscribed = threading.Event(), threading.Event()
    thread = threading.Thread(target=w.consume_bus, args=(bus, stop, None, subscribed), daemon=True)
    thread.start()
    assert subscribed.wait(10)  # the service follows new messages only
    bus.publish("predictions", PredictionMessage("AAPL", 10**18, 0, 190.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                                                  reason="warm-up: 3 of 95 clean bars"))  # no forecast: not served
    bus.publish("predictions", PredictionMessage("MSFT", 10**18, 1, 400.0, -0.01, 0.003, 0.01, 0.003, 0.4,
                                                  latency_ns=12_000_000))
    bus.publish("fills", FillMessage("o-1", "MSFT", 10.0, 400.5, 0.0, 10**18))
    deadline = time.monotonic() + 10
    while len(events) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(5)
    assert [e["type"] for e in events] == ["prediction", "fill"]
    assert json.loads(book.encoded(["MSFT"]))["predictions"][0]["q50"] == 0.003
    assert json.loads(book.encoded())["count"] == 1  # the no-forecast marker made no row
    assert metrics.prediction_latency._sum.get() == pytest.approx(0.012) and metrics.fills._value.get() == 1
    bus.close()
