"""One consumer's reads of one topic: subscribe, read, reclaim a dead consumer's messages, ack what was processed.

Unlike a batch-at-a-time consumer, the predict and trade workers ack a bar only after the
cross-section it belongs to has been processed (a cross-section spans reads), so they keep
the ids and ack them themselves. A message this reader holds (read, not yet acked) is never
taken again by its own reclaim: a cross-section that waits longer than ``reclaim_idle_ms``
would otherwise come back as a second copy while the first is still in hand. On a bus that
packs several messages into one entry (ids ``entry/k``, acked per entry) an entry is acked
only once every message of it was processed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tftrade.stream.bus import Bus, Delivery
from tftrade.stream.errors import BusError
from tftrade.stream.topics import Topic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReaderConfig:
    """Where one worker reads."""

    topic: Topic
    group: str
    consumer: str
    count: int = 2048
    block_ms: int = 50
    reclaim_idle_ms: int = 30_000
    reclaim_every_s: float = 5.0


class TopicReader:
    """Reads ``config.topic`` as ``config.consumer`` of ``config.group``; bus errors are counted and retried."""

    def __init__(self, bus: Bus, config: ReaderConfig) -> None:
        self.bus, self.config = bus, config
        self._subscribed = False
        self._next_reclaim = 0.0
        self.bus_errors = 0
        self.acked = 0
        """Messages acknowledged (each message of a packed entry counts)."""
        self._parts: dict[str, set[str]] = {}  # packed entry -> its messages not yet processed
        self._held: set[str] = set()  # read and not yet acked by this reader

    def read(self, block_ms: int | None = None) -> list[Delivery]:
        """Next deliveries (own pending ones first after a restart; reclaimed ones now and then)."""
        c = self.config
        try:
            if not self._subscribed:
                self.bus.subscribe(c.topic, c.group, c.consumer)
                self._subscribed = True
            got: list[Delivery] = []
            now = time.monotonic()
            if now >= self._next_reclaim:
                self._next_reclaim = now + c.reclaim_every_s
                got.extend(self.bus.reclaim(c.topic, c.group, c.consumer, min_idle_ms=c.reclaim_idle_ms,
                                            count=c.count))
            got.extend(self.bus.read(c.topic, c.group, c.consumer, count=c.count,
                                     block_ms=c.block_ms if block_ms is None else block_ms))
            out: list[Delivery] = []
            for d in got:  # a reclaimed message is also this consumer's pending one: deliver it once
                if d.id in self._held:
                    continue
                self._held.add(d.id)
                out.append(d)
                entry, sep, _ = d.id.partition("/")
                if sep:
                    self._parts.setdefault(entry, set()).add(d.id)
            return out
        except BusError as e:
            self.bus_errors += 1
            self._subscribed = False
            log.warning("%s/%s: bus error, retrying: %s", c.topic, c.group, e)
            time.sleep(min(0.05 * self.bus_errors, 2.0))
            return []

    def ack(self, ids: Sequence[str]) -> None:
        """Acknowledge processed messages (nothing else is ever acked)."""
        ids = [i for i in ids if i]
        if not ids:
            return
        ready: list[str] = []
        self._held.difference_update(ids)
        for i in ids:
            entry, sep, _ = i.partition("/")
            parts = self._parts.get(entry) if sep else None
            if parts is None:
                ready.append(i)
                continue
            parts.discard(i)
            if not parts:
                del self._parts[entry]
                ready.append(i)
        if not ready:
            return
        try:
            self.bus.ack(self.config.topic, self.config.group, ready)
            self.acked += len(ids)
        except BusError as e:  # not acked: they come back and are absorbed as duplicates
            self.bus_errors += 1
            log.warning("%s/%s: ack failed (the messages will be redelivered): %s", self.config.topic,
                        self.config.group, e)
