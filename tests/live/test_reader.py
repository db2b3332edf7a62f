"""TopicReader: a message in hand is not reclaimed by its own reader; a dead consumer's messages are."""

from __future__ import annotations

from tftrade.core.clock import SimulatedClock
from tftrade.live.reader import ReaderConfig, TopicReader
from tftrade.stream.memory import InMemoryBus
from tftrade.stream.messages import BarMessage

SECOND = 1_000_000_000


def _bars(bus: InMemoryBus, n: int) -> None:
    for k in range(n):
        bus.publish("market_data", BarMessage("AAPL", k * 60 * SECOND, 1.0, 1.0, 1.0, 1.0, 10.0))


def _config(consumer: str) -> ReaderConfig:
    return ReaderConfig("market_data", "trade", consumer, block_ms=0, reclaim_idle_ms=1_000, reclaim_every_s=0.0)


def test_a_message_held_past_the_idle_time_is_not_delivered_twice() -> None:
    clock = SimulatedClock(0)
    bus = InMemoryBus(clock=clock)
    _bars(bus, 3)
    reader = TopicReader(bus, _config("w1"))
    first = reader.read()
    assert len(first) == 3
    clock.advance_to(5 * SECOND)  # the cross-section waits longer than reclaim_idle_ms, still in hand
    assert reader.read() == []
    reader.ack([d.id for d in first])
    assert bus.pending("market_data", "trade") == 0 and reader.acked == 3


def test_a_dead_consumers_messages_are_still_reclaimed() -> None:
    clock = SimulatedClock(0)
    bus = InMemoryBus(clock=clock)
    _bars(bus, 2)
    dead = TopicReader(bus, _config("w1"))
    taken = dead.read()
    assert len(taken) == 2
    clock.advance_to(5 * SECOND)
    heir = TopicReader(bus, _config("w2"))
    again = heir.read()
    assert sorted(d.id for d in again) == sorted(d.id for d in taken)
    heir.ack([d.id for d in again])
    assert bus.pending("market_data", "trade") == 0
