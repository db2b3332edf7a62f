"""Per-key request budget: a token bucket per API key on an injected monotonic clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allow ``per_minute`` requests per key, in bursts of up to ``per_minute`` (refilled continuously).

    Examples
    --------
    >>> t = [0.0]
    >>> rl = RateLimiter(2, clock=lambda: t[0])
    >>> [rl.allow("k") for _ in range(3)]
    [True, True, False]
    >>> t[0] = 30.0; rl.allow("k")
    True
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Take one token for ``key``; ``False`` when its budget is spent."""
        now = self._clock()
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                b = self._buckets[key] = _Bucket(self.capacity, now)
            b.tokens = min(self.capacity, b.tokens + (now - b.updated) * self.rate)
            b.updated = now
            if b.tokens < 1.0:
                return False
            b.tokens -= 1.0
            return True

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` has a token again."""
        with self._lock:
            b = self._buckets.get(key)
            return 0.0 if b is None else max(0.0, (1.0 - b.tokens) / self.rate)
