"""A bus shared with readers on other threads, closed by its owner: to the readers that is the end, not an error.

``tftrade live --serve`` hands its bus to the API's bus reader, a thread of the service that
the live process does not own. The service stops that reader when the API stops, but waits
for it only so long; a reader still busy with a batch then finds the bus closed under it, and
logged it as a failing bus ("bus read on orders failed: the in-memory bus is closed") at every
clean exit. Through :class:`SharedBus` the owner closes the bus as shutdown: from then on a
reader's read or reclaim returns nothing, an ack or a pending count is a no-op, and a call in
flight when the bus closed ends the same way instead of raising. Publishing or subscribing
after the close still fails (that is a writer's error, not a reader's end).

Examples
--------
>>> from tftrade.stream.memory import InMemoryBus
>>> bus = SharedBus(InMemoryBus())
>>> bus.subscribe("orders", "api", "c1")
>>> bus.close()
>>> bus.read("orders", "api", "c1"), bus.ack("orders", "api", ["1-0"]), bus.pending("orders", "api")
([], 0, 0)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from tftrade.stream.bus import Bus, Delivery
from tftrade.stream.errors import BusError
from tftrade.stream.messages import Message
from tftrade.stream.topics import Topic

T = TypeVar("T")


class SharedBus:
    """``bus`` with reads that end quietly once the owner :meth:`close`\\ s it (see the module docstring)."""

    def __init__(self, bus: Bus) -> None:
        self.inner = bus
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        """Whether the owner has closed the bus."""
        return self._closed.is_set()

    def publish(self, topic: Topic, message: Message) -> str:
        """Append one message (fails once closed)."""
        return self.inner.publish(topic, message)

    def publish_many(self, topic: Topic, messages: Sequence[Message]) -> list[str]:
        """Append many messages (fails once closed)."""
        return self.inner.publish_many(topic, messages)

    def publish_raw(self, topic: Topic, raw: bytes) -> str:
        """Append an encoded payload (fails once closed)."""
        return self.inner.publish_raw(topic, raw)

    def subscribe(self, topic: Topic, group: str, consumer: str, *, from_start: bool = True) -> None:
        """Join a group (fails once closed)."""
        self.inner.subscribe(topic, group, consumer, from_start=from_start)

    def _quiet(self, call: Callable[[], T], ended: T) -> T:
        """``call()``; ``ended`` once the owner has closed the bus, also when the close came during the call."""
        if self.closed:
            return ended
        try:
            return call()
        except BusError:
            if self.closed:
                return ended
            raise

    def read(self, topic: Topic, group: str, consumer: str, *, count: int = 512,
             block_ms: int = 100) -> list[Delivery]:
        """The inner bus's read; nothing once closed."""
        return self._quiet(lambda: self.inner.read(topic, group, consumer, count=count, block_ms=block_ms), [])

    def ack(self, topic: Topic, group: str, ids: Sequence[str]) -> int:
        """The inner bus's ack; 0 once closed."""
        return self._quiet(lambda: self.inner.ack(topic, group, ids), 0)

    def reclaim(self, topic: Topic, group: str, consumer: str, *, min_idle_ms: int,
                count: int = 512) -> list[Delivery]:
        """The inner bus's reclaim; nothing once closed."""
        return self._quiet(lambda: self.inner.reclaim(topic, group, consumer, min_idle_ms=min_idle_ms, count=count),
                           [])

    def pending(self, topic: Topic, group: str) -> int:
        """The inner bus's pending count; 0 once closed."""
        return self._quiet(lambda: self.inner.pending(topic, group), 0)

    def length(self, topic: Topic) -> int:
        """The inner bus's topic length; 0 once closed."""
        return self._quiet(lambda: self.inner.length(topic), 0)

    def stats(self) -> dict[str, int]:
        """The inner bus's counters."""
        return self.inner.stats()

    def close(self) -> None:
        """Close the bus: readers see the end from now on; then release the inner bus."""
        self._closed.set()
        self.inner.close()
