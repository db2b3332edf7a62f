"""``RedisStreamsBus``: the bus on Redis Streams, for workers in separate processes or machines.

One stream per topic (``{prefix}:{topic}``), one field ``d`` holding the encoded message.
Publishing is ``XADD … MAXLEN ~ maxlen`` (pipelined for batches); consumer groups read with
``XREADGROUP``, acknowledge with ``XACK`` and take over a dead consumer's pending messages
with ``XAUTOCLAIM``. A dropped connection (Redis restarting, ``CLIENT KILL``, a network
blip) is retried with capped backoff for up to ``reconnect_timeout_s``; each retry counts
in ``stats()["reconnects"]`` and is logged; every connection opened (the first, and
each one redis-py opens in place of a dropped one) counts in ``stats()["connects"]``. After a
reconnect every consumer re-reads its own pending messages first, so a reply lost with the
connection is not lost with it.

``MAXLEN`` trimming is approximate and, as in Redis itself, can drop messages no group has
read yet if consumers fall more than ``maxlen`` behind: size it for the longest outage.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from tftrade.stream.bus import Delivery, make_deliveries, make_delivery
from tftrade.stream.errors import BusError
from tftrade.stream.messages import Message, encode
from tftrade.stream.topics import Topic, check_topic

log = logging.getLogger(__name__)
T = TypeVar("T")
_FIELD = b"d"
_PACKED = b"p"
_TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)
_ENTRY_ID = re.compile(r"^[^/\n]*", re.MULTILINE)


class RedisStreamsBus:
    """A :class:`~tftrade.stream.bus.Bus` on Redis Streams.

    Parameters
    ----------
    url
        Redis URL, e.g. ``redis://127.0.0.1:6379/0`` (ignored when ``client`` is given).
    client
        A ``redis.Redis`` built with ``decode_responses=False``.
    prefix
        Stream-name prefix; streams are ``{prefix}:{topic}``.
    maxlen
        Approximate length each stream is trimmed to on publish.
    reconnect_timeout_s
        How long to keep retrying a lost connection before raising :class:`BusError`.
    pack
        With ``pack > 1``, ``publish_many`` puts up to ``pack`` messages in one stream entry
        (newline-separated, field ``p``): far fewer Redis commands per message. Messages of one
        entry share its pending state: acking any of them acks the entry, and ``count``,
        ``pending`` and the ``acked`` counter are in entries. Readers decode both layouts.
    """

    def __init__(self, url: str | None = None, *, client: redis.Redis | None = None, prefix: str = "tftrade",
                 maxlen: int = 1_000_000, reconnect_timeout_s: float = 30.0, pack: int = 1,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if client is None:
            if url is None:
                raise BusError("RedisStreamsBus needs a url or a client")
            client = redis_client(url)
        self._r = client
        self._pack = max(1, pack)
        client.connection_pool.connection_kwargs["redis_connect_func"] = self._on_connect
        client.set_response_callback("XREADGROUP", _raw_reply)  # flat lists: no dict per entry
        self._prefix = prefix
        self._maxlen = maxlen
        self._timeout = reconnect_timeout_s
        self._sleep = sleep
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._restarting: dict[tuple[str, str, str], str] = {}  # consumer -> history cursor
        self._known: set[tuple[str, str, str]] = set()

    def stream(self, topic: Topic) -> str:
        """The Redis key of ``topic``."""
        return f"{self._prefix}:{check_topic(topic)}"

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        deadline = time.monotonic() + self._timeout
        delay = 0.05
        while True:
            try:
                return fn()
            except _TRANSIENT as e:
                self._count("reconnects")
                with self._lock:
                    for who in self._known:  # replies lost with the connection come back as pending
                        self._restarting.setdefault(who, "0")
                if time.monotonic() >= deadline:
                    raise BusError(f"Redis unreachable for {self._timeout:.0f}s during {what}: {e}") from e
                log.warning("Redis connection lost during %s (%s); retrying in %.2fs", what, e, delay)
                self._sleep(delay)
                delay = min(1.0, delay * 2)
            except ResponseError as e:
                raise BusError(f"Redis refused {what}: {e}") from e

    def _on_connect(self, connection: Any) -> None:
        connection.on_connect()
        self._count("connects")
        log.info("Redis connection opened (%d so far)", self._counts["connects"])

    def _entries(self, count: int) -> int:
        return max(1, count // self._pack)

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def publish(self, topic: Topic, message: Message) -> str:
        """``XADD`` one message; return its id."""
        return self.publish_raw(topic, encode(message))

    def publish_raw(self, topic: Topic, raw: bytes) -> str:
        """``XADD`` an encoded payload as is; return its id."""
        key = self.stream(topic)
        msg_id = self._call("XADD", lambda: self._r.xadd(key, {_FIELD: raw}, maxlen=self._maxlen, approximate=True))
        self._count("published")
        return _text(msg_id)

    def publish_many(self, topic: Topic, messages: Sequence[Message]) -> list[str]:
        """``XADD`` many messages in one pipelined round trip; return their ids."""
        key = self.stream(topic)
        payloads = [encode(m) for m in messages]
        n = self._pack
        chunks = [payloads] if n == 1 else [payloads[k: k + n] for k in range(0, len(payloads), n)]
        field, entries = (_FIELD, payloads) if n == 1 else (_PACKED, [b"\n".join(c) for c in chunks])

        def run() -> list[Any]:
            pipe = self._r.pipeline(transaction=False)
            cmd: Callable[..., Any] = pipe.execute_command
            for raw in entries:
                cmd("XADD", key, "MAXLEN", "~", self._maxlen, "*", field, raw)
            return pipe.execute()

        ids = [_text(i) for i in self._call("XADD pipeline", run)] if payloads else []
        self._count("published", len(payloads))
        if n == 1:
            return ids
        return [f"{eid}/{k}" for eid, chunk in zip(ids, chunks, strict=True) for k in range(len(chunk))]

    def subscribe(self, topic: Topic, group: str, consumer: str, *, from_start: bool = True) -> None:
        """Create the group if missing (``XGROUP CREATE … MKSTREAM``); the consumer's next read returns its pending."""
        key = self.stream(topic)

        def create() -> None:
            try:
                self._r.xgroup_create(key, group, id="0" if from_start else "$", mkstream=True)
            except ResponseError as e:
                if "BUSYGROUP" not in str(e):
                    raise

        self._call("XGROUP CREATE", create)
        with self._lock:
            self._known.add((topic, group, consumer))
            self._restarting[(topic, group, consumer)] = "0"

    def read(self, topic: Topic, group: str, consumer: str, *, count: int = 512,
             block_ms: int = 100) -> list[Delivery]:
        """``XREADGROUP``: own pending first after a subscribe or reconnect, then new messages."""
        key = self.stream(topic)
        who = (topic, group, consumer)
        with self._lock:
            cursor = self._restarting.get(who)
        if cursor is not None:
            reply = self._call("XREADGROUP", lambda: self._r.xreadgroup(group, consumer, {key: cursor},
                                                                        count=self._entries(count)))
            out = self._deliveries(topic, reply, redelivered=True)
            with self._lock:
                if out:
                    self._restarting[who] = out[-1].id.split("/", 1)[0]
                    return out
                self._restarting.pop(who, None)
        reply = self._call("XREADGROUP", lambda: self._r.xreadgroup(
            group, consumer, {key: ">"}, count=self._entries(count), block=block_ms if block_ms > 0 else None))
        return self._deliveries(topic, reply, redelivered=False)

    def _deliveries(self, topic: Topic, reply: Any, *, redelivered: bool) -> list[Delivery]:
        out: list[Delivery] = []
        bad = 0
        pairs = reply.items() if isinstance(reply, dict) else (reply or [])
        for _stream, entries in pairs:
            for msg_id, fields in entries:
                eid = _text(msg_id)
                values = _fields(fields)
                packed = values.get(_PACKED)
                raw = values.get(_FIELD)
                if packed is not None:
                    parts = packed.split(b"\n")
                    got, errors = make_deliveries(topic, [f"{eid}/{k}" for k in range(len(parts))], parts,
                                                  redelivered=redelivered)
                    out += got
                    bad += errors
                elif raw is None:
                    out.append(Delivery(topic, eid, b"", None, "entry has no payload field 'd' (deleted?)",
                                        redelivered))
                    bad += 1
                else:
                    out.append(make_delivery(topic, eid, raw, redelivered=redelivered))
                    bad += out[-1].error is not None
        with self._lock:
            self._counts["redelivered" if redelivered else "delivered"] += len(out)
            self._counts["decode_errors"] += bad
        return out

    def ack(self, topic: Topic, group: str, ids: Sequence[str]) -> int:
        """``XACK``; return how many were pending."""
        if not ids:
            return 0
        key = self.stream(topic)
        entry_ids = list(dict.fromkeys(_ENTRY_ID.findall("\n".join(ids))))  # "E/k" -> "E", in C
        n = int(self._call("XACK", lambda: self._r.xack(key, group, *entry_ids)))
        self._count("acked", n)
        return n

    def reclaim(self, topic: Topic, group: str, consumer: str, *, min_idle_ms: int,
                count: int = 512) -> list[Delivery]:
        """``XAUTOCLAIM`` messages idle for ``min_idle_ms``; ids whose entry was trimmed are acked and counted."""
        key = self.stream(topic)
        reply = self._call("XAUTOCLAIM", lambda: self._r.xautoclaim(key, group, consumer, min_idle_ms, "0-0",
                                                                     count=self._entries(count)))
        entries = reply[1] if len(reply) > 1 else []
        deleted = reply[2] if len(reply) > 2 else []
        if deleted:
            self._count("trimmed_pending", len(deleted))
            log.error("%d pending messages of %s/%s were trimmed before anyone acked them", len(deleted), topic, group)
        out = self._deliveries(topic, [(key, [e for e in entries if e is not None])], redelivered=True)
        self._count("reclaimed", len(out))
        return out

    def pending(self, topic: Topic, group: str) -> int:
        """``XPENDING`` summary count."""
        key = self.stream(topic)
        info = self._call("XPENDING", lambda: self._r.xpending(key, group))
        return int(info["pending"])

    def length(self, topic: Topic) -> int:
        """``XLEN``."""
        key = self.stream(topic)
        return int(self._call("XLEN", lambda: self._r.xlen(key)))

    def stats(self) -> dict[str, int]:
        """Counters of this process's bus object."""
        keys = ("published", "delivered", "redelivered", "reclaimed", "acked", "decode_errors", "reconnects",
                "connects", "trimmed_pending")
        with self._lock:
            return {k: self._counts[k] for k in keys}

    def delete_topics(self) -> None:
        """Delete every stream of this prefix (tests and benchmarks clean up with it)."""
        keys = [f"{self._prefix}:{t}" for t in ("market_data", "social_data", "predictions", "orders", "fills")]
        self._call("DEL", lambda: self._r.delete(*keys))

    def close(self) -> None:
        """Close the connection pool."""
        self._r.close()


def redis_client(url: str, *, name: str | None = None) -> redis.Redis:
    """A client for the bus: bytes replies, and no silent retries inside redis-py (the bus retries, counts, logs)."""
    return redis.Redis.from_url(url, decode_responses=False, health_check_interval=10, client_name=name,
                                retry=Retry(NoBackoff(), 0))


def _raw_reply(response: Any, **options: Any) -> Any:
    return response


def _fields(fields: Any) -> dict[bytes, bytes]:
    """An entry's fields, from redis-py's dict or the flat ``[field, value, ...]`` reply."""
    if not fields:
        return {}
    if isinstance(fields, dict):
        return fields
    return dict(zip(fields[::2], fields[1::2], strict=True))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
