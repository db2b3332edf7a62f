"""One conformance suite over every Bus: ordering, at-least-once, redelivery, restarts, groups, bad payloads."""

from __future__ import annotations

import threading
import time

import pytest

from tftrade.stream.bus import Bus
from tftrade.stream.consumer import ConsumerConfig, ConsumerStats, run_consumer
from tftrade.stream.errors import BusError
from tftrade.stream.messages import BarMessage, FillMessage, Message

TICKERS = ("AAPL", "MSFT", "NVDA", "TSLA", "SPY")


def bars(n: int, start: int = 0) -> list[Message]:
    return [BarMessage(TICKERS[k % len(TICKERS)], (start + k) * 60_000_000_000, 10.0, 11.0, 9.0, 10.5, 100.0 + k)
            for k in range(n)]


def drain(bus: Bus, group: str, consumer: str, *, ack: bool = True, count: int = 7) -> list[BarMessage]:
    out: list[BarMessage] = []
    while batch := bus.read("market_data", group, consumer, count=count, block_ms=20):
        out.extend(d.message for d in batch if isinstance(d.message, BarMessage))
        if ack:
            bus.ack("market_data", group, [d.id for d in batch])
    return out


def test_messages_arrive_in_publish_order_per_key(bus: Bus) -> None:
    bus.subscribe("market_data", "g", "c1")
    sent = bars(203)
    bus.publish_many("market_data", sent[:100])
    for m in sent[100:]:
        bus.publish("market_data", m)
    got = drain(bus, "g", "c1")
    assert got == sent
    for t in TICKERS:
        times = [b.start_ns for b in got if b.ticker == t]
        assert times == sorted(times) and len(times) > 30
    assert bus.pending("market_data", "g") == 0


def test_unacked_messages_come_back_after_resubscribe(unpacked_bus: Bus) -> None:
    bus = unpacked_bus
    bus.subscribe("market_data", "g", "c1")
    bus.publish_many("market_data", bars(10))
    first = bus.read("market_data", "g", "c1", count=4, block_ms=10)
    assert len(first) == 4 and not any(d.redelivered for d in first)
    assert bus.pending("market_data", "g") == 4
    bus.subscribe("market_data", "g", "c1")  # the consumer restarts without having acked
    again = bus.read("market_data", "g", "c1", count=3, block_ms=10)
    again += bus.read("market_data", "g", "c1", count=3, block_ms=10)  # the 4th pending one
    again += bus.read("market_data", "g", "c1", count=1, block_ms=10)  # then new ones
    assert [d.id for d in again[:4]] == [d.id for d in first]
    assert all(d.redelivered for d in again[:4]) and not again[4].redelivered
    assert bus.ack("market_data", "g", [d.id for d in again]) == 5
    assert bus.ack("market_data", "g", [first[0].id]) == 0  # acking twice is harmless
    assert [m.start_ns for m in drain(bus, "g", "c1")] == [k * 60_000_000_000 for k in range(5, 10)]


def test_a_dead_consumers_pending_messages_are_reclaimed(unpacked_bus: Bus) -> None:
    bus = unpacked_bus
    bus.subscribe("market_data", "g", "dead")
    bus.subscribe("market_data", "g", "alive")
    bus.publish_many("market_data", bars(6))
    taken = bus.read("market_data", "g", "dead", count=6, block_ms=10)
    assert len(taken) == 6
    assert bus.reclaim("market_data", "g", "alive", min_idle_ms=60_000) == []  # not idle long enough
    time.sleep(0.05)
    got = bus.reclaim("market_data", "g", "alive", min_idle_ms=20)
    assert [d.id for d in got] == [d.id for d in taken] and all(d.redelivered for d in got)
    assert bus.ack("market_data", "g", [d.id for d in got]) == 6
    assert bus.pending("market_data", "g") == 0
    assert bus.stats()["reclaimed"] >= 6


def test_every_group_sees_every_message_and_consumers_of_one_group_share(bus: Bus) -> None:
    for c in ("a1", "a2"):
        bus.subscribe("market_data", "A", c)
    bus.subscribe("market_data", "B", "b1")
    sent = bars(40)
    bus.publish_many("market_data", sent)
    a1 = bus.read("market_data", "A", "a1", count=15, block_ms=10)
    a2 = drain(bus, "A", "a2")
    bus.ack("market_data", "A", [d.id for d in a1])
    assert len(a1) == 15 and len(a2) == 25
    assert sorted([d.message.start_ns for d in a1 if isinstance(d.message, BarMessage)]
                  + [m.start_ns for m in a2]) == [m.start_ns for m in sent if isinstance(m, BarMessage)]
    assert drain(bus, "B", "b1") == sent


def test_group_created_at_the_end_sees_only_new_messages(bus: Bus) -> None:
    bus.subscribe("fills", "first", "c")  # make the topic exist
    bus.publish("fills", FillMessage("old", "AAPL", 1.0, 10.0, 0.0, 0))
    bus.subscribe("fills", "late", "c", from_start=False)
    bus.publish("fills", FillMessage("new", "AAPL", 1.0, 10.0, 0.0, 1))
    got = bus.read("fills", "late", "c", block_ms=10)
    assert [d.message.client_order_id for d in got if isinstance(d.message, FillMessage)] == ["new"]


def test_a_malformed_payload_is_delivered_with_its_reason_and_the_stream_goes_on(bus: Bus) -> None:
    bus.subscribe("market_data", "g", "c")
    bus.publish_raw("market_data", b'{"type":"bar","ticker":"AAPL"')
    bus.publish_raw("market_data", b'{"type":"bar","ticker":"AAPL","start_ns":"soon"}')
    bus.publish_many("market_data", bars(2))
    got = bus.read("market_data", "g", "c", block_ms=10)
    assert [d.message is None for d in got] == [True, True, False, False]
    assert "not a JSON message" in (got[0].error or "") and got[0].raw.startswith(b'{"type":"bar"')
    assert "start_ns" in (got[1].error or "")
    assert bus.stats()["decode_errors"] == 2


def test_reading_a_group_that_was_never_created_is_a_clear_error(bus: Bus) -> None:
    with pytest.raises(BusError, match=r"group|NOGROUP"):
        bus.read("orders", "nobody", "c", block_ms=10)


class Crash(BaseException):
    """Kills a consumer thread the way a dying process would: no handler, no ack."""


def test_nothing_is_lost_across_a_consumer_crash_and_restart(bus: Bus) -> None:
    stored: list[int] = []
    crash_at = 37

    def handle(batch: list) -> None:  # type: ignore[type-arg]
        for d in batch:
            stored.append(d.message.start_ns)
            if len(stored) == crash_at:
                raise Crash
    cfg = ConsumerConfig("market_data", "ingest", "worker-1", count=10, block_ms=20, reclaim_idle_ms=10_000)
    bus.subscribe("market_data", "ingest", "worker-1")
    bus.publish_many("market_data", bars(100))
    stop = threading.Event()
    with pytest.raises(Crash):
        run_consumer(bus, cfg, handle, stop)
    assert bus.pending("market_data", "ingest") > 0
    bus.publish_many("market_data", bars(50, start=100))  # the feed goes on while the worker is down

    def handle_and_stop(batch: list) -> None:  # type: ignore[type-arg]
        stored.extend(d.message.start_ns for d in batch)
        if len(set(stored)) == 150:
            stop.set()
    stats = run_consumer(bus, cfg, handle_and_stop, stop)
    assert set(stored) == {k * 60_000_000_000 for k in range(150)}
    assert len(stored) - 150 <= 10  # at most the crashed batch is seen twice
    assert stats.redelivered > 0 and bus.pending("market_data", "ingest") == 0


def test_a_failing_handler_acks_nothing_and_gets_the_batch_again(unpacked_bus: Bus) -> None:
    bus = unpacked_bus
    bus.subscribe("market_data", "g", "c")
    bus.publish_many("market_data", bars(5))
    attempts: list[int] = []
    stop = threading.Event()

    def handle(batch: list) -> None:  # type: ignore[type-arg]
        attempts.append(len(batch))
        if len(attempts) == 1:
            raise RuntimeError("database down")
        stop.set()
    stats = run_consumer(bus, ConsumerConfig("market_data", "g", "c", block_ms=10), handle, stop,
                         stats=ConsumerStats(), sleep=lambda s: None)
    assert attempts == [5, 5] and stats.handler_errors == 1 and stats.acked == 5
    assert "database down" in stats.last_error


def test_a_packed_entry_is_pending_and_acked_as_one(packed_redis_bus: Bus) -> None:
    bus = packed_redis_bus
    bus.subscribe("market_data", "g", "c")
    ids = bus.publish_many("market_data", bars(7))  # entries of 3, 3, 1
    assert [i.split("/")[1] for i in ids] == ["0", "1", "2", "0", "1", "2", "0"]
    got = bus.read("market_data", "g", "c", count=6, block_ms=10)  # two entries
    assert [d.id for d in got] == ids[:6] and bus.pending("market_data", "g") == 2
    assert bus.ack("market_data", "g", [got[0].id]) == 1  # acks the first entry, all three messages
    bus.subscribe("market_data", "g", "c")
    again = bus.read("market_data", "g", "c", count=6, block_ms=10)
    assert [d.id for d in again] == ids[3:6] and all(d.redelivered for d in again)


def test_a_poison_message_is_dead_lettered_and_the_topic_goes_on(bus: Bus) -> None:
    bus.subscribe("market_data", "g", "c")
    msgs = bars(9)
    bus.publish_many("market_data", msgs[:4])
    bus.publish("market_data", BarMessage("POISON", 0, 1.0, 1.0, 1.0, 1.0, 1.0))
    bus.publish_many("market_data", msgs[4:])
    stored: list[str] = []
    parked: list[tuple[str, str]] = []
    stop = threading.Event()

    def handle(batch: list) -> None:  # type: ignore[type-arg]
        if any(d.message.ticker == "POISON" for d in batch):
            raise ValueError("value out of range for the column")
        stored.extend(f"{d.message.ticker}@{d.message.start_ns}" for d in batch)
        if len(stored) == 9:
            stop.set()

    stats = run_consumer(bus, ConsumerConfig("market_data", "g", "c", count=20, block_ms=10), handle, stop,
                         sleep=lambda s: None, dead_letter=lambda d, why: parked.append((d.raw.decode(), why)))
    assert len(stored) == 9 and stats.dead_lettered == 1 and len(parked) == 1
    assert '"ticker":"POISON"' in parked[0][0] and "value out of range" in parked[0][1]
    assert bus.pending("market_data", "g") == 0


def test_when_every_message_fails_nothing_is_dead_lettered(unpacked_bus: Bus) -> None:
    bus = unpacked_bus
    bus.subscribe("market_data", "g", "c")
    bus.publish_many("market_data", bars(4))
    calls = {"n": 0}
    stop = threading.Event()

    def handle(batch: list) -> None:  # type: ignore[type-arg]
        calls["n"] += 1
        if calls["n"] <= 12:
            raise ConnectionError("database down")
        stop.set()
    stats = run_consumer(bus, ConsumerConfig("market_data", "g", "c", block_ms=10), handle, stop,
                         sleep=lambda s: None, dead_letter=lambda d, why: pytest.fail("dead-lettered " + why))
    assert stats.dead_lettered == 0 and stats.acked == 4 and bus.pending("market_data", "g") == 0


def test_a_no_forecast_prediction_travels_with_its_reason(bus: Bus) -> None:
    """A bar without forecasts is said on ``predictions`` (``horizon=0`` + reason), on every bus alike."""
    from tftrade.stream.messages import PredictionMessage

    bus.subscribe("predictions", "g", "c")
    sent = [PredictionMessage(t, 60, 0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, reason="warm-up: 1 of 95 clean bars")
            for t in TICKERS]
    bus.publish_many("predictions", sent)
    got = bus.read("predictions", "g", "c", block_ms=20)
    assert [d.message for d in got] == sent
