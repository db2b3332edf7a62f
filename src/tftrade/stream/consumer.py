"""Run one consumer: read batches, hand them to a handler, ack only what the handler finished.

The loop is at-least-once by construction: a batch is acknowledged after ``handle`` returns,
never before. If ``handle`` raises, nothing of the batch is acked and the same batch is retried
after a capped backoff (it also stays pending on the bus, so a crash does not lose it).

A *poison* message — one the handler fails on every time while its neighbours go through —
must not stall the topic: after ``max_batch_failures`` failures the batch is handled one
message at a time; if some succeed and some keep failing, the failing ones go to
``dead_letter(delivery, reason)`` (workers quarantine them) and are acked. If every message
fails (the database is down) nothing is dead-lettered and the retries go on. Messages a dead
consumer of the same group left pending are reclaimed every ``reclaim_every_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter

from tftrade.stream.bus import Bus, Delivery
from tftrade.stream.errors import BusError
from tftrade.stream.topics import Topic

log = logging.getLogger(__name__)

_ID = attrgetter("id")
_REDELIVERED = attrgetter("redelivered")
Handler = Callable[[list[Delivery]], None]
"""Processes one batch; returns normally only when every delivery is durably handled."""
DeadLetter = Callable[[Delivery, str], None]
"""Takes a message the handler keeps failing on, with the reason (e.g. writes it to the quarantine)."""


@dataclass(frozen=True)
class WorkerSettings:
    """A worker's consumer group and batch settings (its topic is fixed by the worker)."""

    group: str = "worker"
    consumer: str = "worker-1"
    count: int = 512
    block_ms: int = 200
    reclaim_idle_ms: int = 30_000

    def on(self, topic: Topic) -> ConsumerConfig:
        """The :class:`ConsumerConfig` of these settings on ``topic``."""
        return ConsumerConfig(topic, self.group, self.consumer, count=self.count, block_ms=self.block_ms,
                              reclaim_idle_ms=self.reclaim_idle_ms)


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
    max_batch_failures: int = 3


@dataclass
class ConsumerStats:
    """What a consumer did: batches, messages handled and acked, handler failures, bus errors."""

    batches: int = 0
    messages: int = 0
    acked: int = 0
    redelivered: int = 0
    reclaimed: int = 0
    handler_errors: int = 0
    dead_lettered: int = 0
    bus_errors: int = 0
    last_error: str = ""
    extra: dict[str, int] = field(default_factory=dict)


def run_consumer(bus: Bus, config: ConsumerConfig, handle: Handler, stop: threading.Event,
                 *, stats: ConsumerStats | None = None, sleep: Callable[[float], None] = time.sleep,
                 dead_letter: DeadLetter | None = None) -> ConsumerStats:
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
        done = _handle_until_done(batch, config, handle, stop, st, sleep, dead_letter)
        st.batches += 1
        st.messages += len(done)
        st.redelivered += sum(map(_REDELIVERED, done))
        if len(done) < len(batch):
            subscribed = False  # stopped while failing: the rest stays pending and comes back first
        if not done:
            continue
        try:
            st.acked += bus.ack(config.topic, config.group, list(map(_ID, done)))
        except BusError as e:  # handled but not acked: it comes back and the idempotent write skips it
            st.bus_errors += 1
            st.last_error = str(e)
            log.warning("ack failed on %s (%s); the batch will be redelivered", config.topic, e)
            subscribed = False
    return st


def _handle_until_done(batch: list[Delivery], config: ConsumerConfig, handle: Handler, stop: threading.Event,
                       st: ConsumerStats, sleep: Callable[[float], None],
                       dead_letter: DeadLetter | None) -> list[Delivery]:
    """Handle ``batch`` (retrying; splitting out poison messages); return the deliveries to ack."""
    backoff = 0.0
    failures = 0
    while True:
        try:
            handle(batch)
            return batch
        except Exception as e:  # the handler's failure must not ack the batch
            failures += 1
            st.handler_errors += 1
            st.last_error = f"{type(e).__name__}: {e}"
        if failures >= config.max_batch_failures and len(batch) > 1:
            done = _split(batch, handle, st, dead_letter)
            if done is not None:
                return done
        backoff = _next_backoff(backoff, config.max_backoff_s)
        log.error("handler failed on %d messages of %s (%s); not acked, retrying in %.2fs",
                  len(batch), config.topic, st.last_error, backoff)
        if stop.is_set():
            return []
        sleep(backoff)


def _split(batch: list[Delivery], handle: Handler, st: ConsumerStats,
           dead_letter: DeadLetter | None) -> list[Delivery] | None:
    """One message at a time: dead-letter the ones that fail while others pass; ``None`` if all fail."""
    failed: list[tuple[Delivery, str]] = []
    for d in batch:
        try:
            handle([d])
        except Exception as e:
            failed.append((d, f"{type(e).__name__}: {e}"))
    if len(failed) == len(batch):
        return None  # nothing passes: a transient fault (database down), not a poison message
    for d, reason in failed:
        log.error("message %s of %s fails every time (%s); dead-lettered", d.id, d.topic, reason)
        if dead_letter is not None:
            try:
                dead_letter(d, f"handler failed on this message every time: {reason}")
            except Exception as e:  # cannot park it either: keep it pending and retry later
                log.error("dead-lettering %s failed (%s); it stays pending", d.id, e)
                return None
        st.dead_lettered += 1
    return batch


def _next_backoff(current: float, cap: float) -> float:
    return min(cap, max(0.05, current * 2))
