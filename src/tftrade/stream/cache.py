"""The latest-state cache the API and dashboard serve from: in-process by default, Redis when configured.

Values are JSON documents under string keys; writers (the predict and trade workers, the API
itself) put the newest state, readers never touch the database on the hot path.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Protocol

import redis


class Cache(Protocol):
    """A key → JSON document store."""

    def get(self, key: str) -> Any | None:
        """The document under ``key`` (``None`` if absent)."""
        ...

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) under ``key``."""
        ...

    def ping(self) -> bool:
        """Whether the cache answers."""
        ...

    def append(self, key: str, value: dict[str, Any], keep: int) -> dict[str, Any]:
        """Atomically append ``value`` with the next ``seq`` (1, 2, ...) to the list ``key``, keeping
        the newest ``keep`` items; return the stored item. Safe with several writers (processes)."""
        ...

    def items(self, key: str) -> list[dict[str, Any]]:
        """The list ``key`` (oldest first; empty if absent)."""
        ...


class InMemoryCache:
    """A dictionary behind a lock; documents are copied in and out as JSON so callers share nothing.

    Examples
    --------
    >>> c = InMemoryCache(); c.put("a", {"x": 1}); c.get("a")
    {'x': 1}
    """

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._lists: dict[str, tuple[int, list[str]]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            raw = self._data.get(key)
        return None if raw is None else json.loads(raw)

    def put(self, key: str, value: Any) -> None:
        raw = json.dumps(value)
        with self._lock:
            self._data[key] = raw

    def ping(self) -> bool:
        return True

    def append(self, key: str, value: dict[str, Any], keep: int) -> dict[str, Any]:
        with self._lock:
            seq, items = self._lists.get(key, (0, []))
            item = {"seq": seq + 1, **value}
            self._lists[key] = (seq + 1, [*items[-(keep - 1):], json.dumps(item)] if keep > 1 else [json.dumps(item)])
        return item

    def items(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            raw = list(self._lists.get(key, (0, []))[1])
        return [json.loads(r) for r in raw]


# INCR the list's counter, splice ``"seq": n`` into the JSON object, RPUSH, LTRIM: one atomic step.
_APPEND = ("local n = redis.call('incr', KEYS[2]) "
           "local doc = '{\"seq\":' .. n .. (string.len(ARGV[1]) > 2 and ',' or '') .. string.sub(ARGV[1], 2) "
           "redis.call('rpush', KEYS[1], doc) redis.call('ltrim', KEYS[1], -tonumber(ARGV[2]), -1) return n")


def timed_redis_client(url: str | None, client: redis.Redis | None, *, socket_timeout: float, who: str) -> redis.Redis:
    """``client`` if given, else a client of ``url`` whose connects and reads give up after ``socket_timeout`` s."""
    if client is not None:
        return client
    if url is None:
        raise ValueError(f"{who} needs a url or a client")
    return redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)


class RedisCache:
    """Documents in Redis strings under ``<prefix>:<key>``, shared by every process of a deployment;
    appended lists (:meth:`append`) are Redis lists with a counter under ``<prefix>:<key>:seq``."""

    def __init__(self, url: str | None = None, *, client: redis.Redis | None = None, prefix: str = "tftrade:cache",
                 socket_timeout: float = 2.0) -> None:
        self._r = timed_redis_client(url, client, socket_timeout=socket_timeout, who="RedisCache")
        self._prefix = prefix

    def get(self, key: str) -> Any | None:
        raw = self._r.get(f"{self._prefix}:{key}")
        return None if raw is None else json.loads(raw)

    def put(self, key: str, value: Any) -> None:
        self._r.set(f"{self._prefix}:{key}", json.dumps(value))

    def append(self, key: str, value: dict[str, Any], keep: int) -> dict[str, Any]:
        k = f"{self._prefix}:{key}"
        seq = int(self._r.eval(_APPEND, 2, f"{k}:list", f"{k}:seq", json.dumps(value), str(max(keep, 1))))
        return {"seq": seq, **value}

    def items(self, key: str) -> list[dict[str, Any]]:
        return [json.loads(r) for r in self._r.lrange(f"{self._prefix}:{key}:list", 0, -1)]

    def ping(self) -> bool:
        try:
            return bool(self._r.ping())
        except redis.RedisError:
            return False
