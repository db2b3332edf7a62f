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


class InMemoryCache:
    """A dictionary behind a lock; documents are copied in and out as JSON so callers share nothing.

    Examples
    --------
    >>> c = InMemoryCache(); c.put("a", {"x": 1}); c.get("a")
    {'x': 1}
    """

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
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


class RedisCache:
    """Documents in Redis strings under ``<prefix>:<key>``, shared by every process of a deployment."""

    def __init__(self, url: str | None = None, *, client: redis.Redis | None = None, prefix: str = "tftrade:cache",
                 socket_timeout: float = 2.0) -> None:
        if client is None:
            if url is None:
                raise ValueError("RedisCache needs a url or a client")
            client = redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)
        self._r = client
        self._prefix = prefix

    def get(self, key: str) -> Any | None:
        raw = self._r.get(f"{self._prefix}:{key}")
        return None if raw is None else json.loads(raw)

    def put(self, key: str, value: Any) -> None:
        self._r.set(f"{self._prefix}:{key}", json.dumps(value))

    def ping(self) -> bool:
        try:
            return bool(self._r.ping())
        except redis.RedisError:
            return False
