"""``InMemoryBus``: the default bus, in one process, with the same consumer-group semantics as Redis Streams.

Payloads are stored encoded (the one serialisation), so what passes here passes on Redis.
Unlike Redis ``MAXLEN`` trimming, a topic here drops only messages every group has read and
acknowledged, so nothing unread is ever lost.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from tftrade.core.clock import Clock, SystemClock
from tftrade.stream.bus import Delivery, make_deliveries
from tftrade.stream.errors import BusError
from tftrade.stream.messages import Message, encode
from tftrade.stream.topics import Topic, check_topic


@dataclass(frozen=True)
class _Pending:
    consumer: str
    delivered_ns: int


@dataclass
class _Group:
    cursor: int
    pending: dict[int, _Pending] = field(default_factory=dict)
    restarting: dict[str, int] = field(default_factory=dict)  # consumer -> history cursor


@dataclass
class _Log:
    base: int = 0  # sequence number of entries[0]
    entries: list[bytes] = field(default_factory=list)
    groups: dict[str, _Group] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.base + len(self.entries)


class InMemoryBus:
    """A thread-safe in-process bus.

    Parameters
    ----------
    clock
        Source of "now" for idle times (tests inject a :class:`~tftrade.core.clock.SimulatedClock`).
    maxlen
        Keep at most about this many messages per topic once every group has acked them.

    Examples
    --------
    >>> from tftrade.stream.messages import FillMessage
    >>> bus = InMemoryBus()
    >>> bus.subscribe("fills", "audit", "c1")
    >>> bus.publish("fills", FillMessage("o-1", "AAPL", 10.0, 190.5, 0.0, 0))
    '1-0'
    >>> [d.message.price for d in bus.read("fills", "audit", "c1")]
    [190.5]
    """

    def __init__(self, *, clock: Clock | None = None, maxlen: int = 1_000_000) -> None:
        self._clock = clock or SystemClock()
        self._maxlen = maxlen
        self._logs: dict[str, _Log] = {}
        self._cond = threading.Condition()
        self._counts: Counter[str] = Counter()
        self._closed = False

    def _log(self, topic: str) -> _Log:
        if self._closed:
            raise BusError("the in-memory bus is closed")
        log = self._logs.get(topic)
        if log is None:
            log = self._logs[check_topic(topic)] = _Log()
        return log

    def publish(self, topic: Topic, message: Message) -> str:
        """Append one message; return its id."""
        return self.publish_raw(topic, encode(message))

    def publish_many(self, topic: Topic, messages: Sequence[Message]) -> list[str]:
        """Append many messages in order; return their ids."""
        return self._append(topic, [encode(m) for m in messages])

    def publish_raw(self, topic: Topic, raw: bytes) -> str:
        """Append an encoded payload as is; return its id."""
        return self._append(topic, [raw])[0]

    def _append(self, topic: Topic, payloads: list[bytes]) -> list[str]:
        with self._cond:
            log = self._log(topic)
            first = log.end
            log.entries.extend(payloads)
            self._counts["published"] += len(payloads)
            self._trim(log)
            self._cond.notify_all()
        return [_id(first + k) for k in range(len(payloads))]

    def _trim(self, log: _Log) -> None:
        excess = len(log.entries) - self._maxlen
        if excess <= 0:
            return
        safe = min((min([g.cursor, *g.pending]) for g in log.groups.values()), default=log.end)
        drop = min(excess, safe - log.base)
        if drop > 0:
            del log.entries[:drop]
            log.base += drop

    def subscribe(self, topic: Topic, group: str, consumer: str, *, from_start: bool = True) -> None:
        """Join ``consumer`` to ``group``; its next read returns its own pending messages first."""
        with self._cond:
            log = self._log(topic)
            g = log.groups.get(group)
            if g is None:
                g = log.groups[group] = _Group(cursor=log.base if from_start else log.end)
            g.restarting[consumer] = -1

    def _group(self, topic: Topic, group: str) -> tuple[_Log, _Group]:
        log = self._log(topic)
        g = log.groups.get(group)
        if g is None:
            raise BusError(f"group {group!r} does not exist on topic {topic!r}: subscribe first")
        return log, g

    def read(self, topic: Topic, group: str, consumer: str, *, count: int = 512,
             block_ms: int = 100) -> list[Delivery]:
        """Return up to ``count`` messages (own pending first after a subscribe), waiting up to ``block_ms``."""
        with self._cond:
            log, g = self._group(topic, group)
            if consumer in g.restarting:
                after = g.restarting[consumer]
                mine = sorted(s for s, p in g.pending.items() if p.consumer == consumer and s > after)[:count]
                if mine:
                    g.restarting[consumer] = mine[-1]
                    return self._deliver(topic, log, g, consumer, mine, redelivered=True)
                del g.restarting[consumer]
            if g.cursor >= log.end and block_ms > 0:
                self._cond.wait_for(lambda: self._closed or g.cursor < log.end, timeout=block_ms / 1000)
                if self._closed:
                    raise BusError("the in-memory bus is closed")
            seqs = list(range(g.cursor, min(log.end, g.cursor + count)))
            g.cursor += len(seqs)
            return self._deliver(topic, log, g, consumer, seqs, redelivered=False)

    def _deliver(self, topic: Topic, log: _Log, g: _Group, consumer: str, seqs: list[int],
                 *, redelivered: bool) -> list[Delivery]:
        now = self._clock.now_ns()
        mark = _Pending(consumer, now)  # immutable in use: one record for the whole batch
        for s in seqs:
            g.pending[s] = mark
        out, bad = make_deliveries(topic, [_id(s) for s in seqs], [log.entries[s - log.base] for s in seqs],
                                   redelivered=redelivered)
        self._counts["decode_errors"] += bad
        self._counts["redelivered" if redelivered else "delivered"] += len(out)
        return out

    def ack(self, topic: Topic, group: str, ids: Sequence[str]) -> int:
        """Acknowledge ``ids``; return how many were pending."""
        with self._cond:
            log, g = self._group(topic, group)
            n = sum(g.pending.pop(_seq(i), None) is not None for i in ids)
            self._counts["acked"] += n
            self._trim(log)
        return n

    def reclaim(self, topic: Topic, group: str, consumer: str, *, min_idle_ms: int,
                count: int = 512) -> list[Delivery]:
        """Take over messages pending longer than ``min_idle_ms`` for ``consumer``."""
        with self._cond:
            log, g = self._group(topic, group)
            limit = self._clock.now_ns() - min_idle_ms * 1_000_000
            idle = sorted(s for s, p in g.pending.items() if p.delivered_ns <= limit)[:count]
            self._counts["reclaimed"] += len(idle)
            return self._deliver(topic, log, g, consumer, idle, redelivered=True)

    def pending(self, topic: Topic, group: str) -> int:
        """Messages of ``group`` read but not acked."""
        with self._cond:
            return len(self._group(topic, group)[1].pending)

    def length(self, topic: Topic) -> int:
        """Messages held in ``topic``."""
        with self._cond:
            return len(self._log(topic).entries)

    def stats(self) -> dict[str, int]:
        """Counters since creation."""
        keys = ("published", "delivered", "redelivered", "reclaimed", "acked", "decode_errors", "reconnects")
        with self._cond:
            return {k: self._counts[k] for k in keys}

    def close(self) -> None:
        """Wake blocked readers; later calls raise :class:`BusError`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _id(seq: int) -> str:
    return f"{seq + 1}-0"


def _seq(msg_id: str) -> int:
    return int(msg_id.split("-", 1)[0]) - 1
