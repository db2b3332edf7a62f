"""Run one consumer: read batches, hand them to a handler, ack only what the handler finished.

The loop is at-least-once by construction: a batch is acknowledged after ``handle`` returns,
never before. If ``handle`` raises, nothing of the batch is acked; the consumer re-subscribes
(so the batch comes back first) and retries after a capped backoff. Messages a dead consumer
of the same group left pending are reclaimed every ``reclaim_every_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tftrade.stream.bus import Bus, Delivery
from tftrade.stream.errors import BusError
from tftrade.stream.topics import Topic

log = logging.getLogger(__name__)

Handler = Callable[[list[Delivery]], None]
"""Processes one batch; returns normally only when every delivery is durably handled."""


@dataclass(frozen=True)
class ConsumerConfig:
    """Where and how one consumer reads."""

    topic: Topic
    group: str
    consumer: str
    count: int = 512
    block_ms: int = 200
    reclaim_idle_ms: int = 30_000
    reclaim_every_s: float = 5.0
    max_backoff_s: float = 5.0
    from_start: bool = True


@dataclass
class ConsumerStats:
    """What a consumer did: batches, messages handled and acked, handler failures, bus errors."""

    batches: int = 0
    messages: int = 0
    acked: int = 0
    redelivered: int = 0
    reclaimed: int = 0
    handler_errors: int = 0
    bus_errors: int = 0
    last_error: str = ""
    extra: dict[str, int] = field(default_factory=dict)


def run_consumer(bus: Bus, config: ConsumerConfig, handle: Handler, stop: threading.Event,
                 *, stats: ConsumerStats | None = None, sleep: Callable[[float], None] = time.sleep) -> ConsumerStats:
    """Consume ``config.topic`` until ``stop`` is set; return the counters.

    Examples
    --------
    >>> from tftrade.stream.memory import InMemoryBus
    >>> from tftrade.stream.messages import FillMessage
    >>> bus, stop, seen = InMemoryBus(), threading.Event(), []
    >>> _ = bus.publish("fills", FillMessage("o-1", "AAPL", 1.0, 10.0, 0.0, 0))
    >>> def handle(batch):
    ...     seen.extend(d.message.client_order_id for d in batch); stop.set()
    >>> run_consumer(bus, ConsumerConfig("fills", "g", "c"), handle, stop).acked, seen
    (1, ['o-1'])
    """
    st = stats or ConsumerStats()
    backoff = 0.0
    subscribed = False
    next_reclaim = 0.0
    while not stop.is_set():
        try:
            if not subscribed:
                bus.subscribe(config.topic, config.group, config.consumer, from_start=config.from_start)
                subscribed = True
            batch: list[Delivery] = []
            if time.monotonic() >= next_reclaim:
                batch = bus.reclaim(config.topic, config.group, config.consumer,
                                    min_idle_ms=config.reclaim_idle_ms, count=config.count)
                st.reclaimed += len(batch)
                next_reclaim = time.monotonic() + config.reclaim_every_s
            if not batch:
                batch = bus.read(config.topic, config.group, config.consumer, count=config.count,
                                 block_ms=config.block_ms)
        except BusError as e:
            st.bus_errors += 1
            st.last_error = str(e)
            backoff = _next_backoff(backoff, config.max_backoff_s)
            log.warning("bus error on %s/%s (%s); retrying in %.2fs", config.topic, config.group, e, backoff)
            sleep(backoff)
            subscribed = False
            continue
        if not batch:
            continue
        try:
            handle(batch)
        except Exception as e:  # the handler's failure must not ack the batch
            st.handler_errors += 1
            st.last_error = f"{type(e).__name__}: {e}"
            backoff = _next_backoff(backoff, config.max_backoff_s)
            log.error("handler failed on %d messages of %s (%s); not acked, retrying in %.2fs",
                      len(batch), config.topic, st.last_error, backoff)
            sleep(backoff)
            subscribed = False  # re-subscribing returns the unacked batch first
            continue
        backoff = 0.0
        st.batches += 1
        st.messages += len(batch)
        st.redelivered += sum(d.redelivered for d in batch)
        try:
            st.acked += bus.ack(config.topic, config.group, [d.id for d in batch])
        except BusError as e:  # handled but not acked: it comes back and the idempotent write skips it
            st.bus_errors += 1
            st.last_error = str(e)
            log.warning("ack failed on %s (%s); the batch will be redelivered", config.topic, e)
            subscribed = False
    return st


def _next_backoff(current: float, cap: float) -> float:
    return min(cap, max(0.05, current * 2))
