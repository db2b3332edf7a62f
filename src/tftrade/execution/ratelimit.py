"""Client-side rate limiting and retry timing for broker REST calls.

Alpaca allows 200 requests per minute per account. :class:`TokenBucket` is shared by every
client of one worker process (thread-safe), so the worker as a whole stays under it.
:class:`RetryPolicy` says how long to wait before another attempt: the reset time a 429
answer carries, or exponential back-off with full jitter for 5xx answers and broken
connections, for a bounded number of attempts.

Examples
--------
>>> now = [0.0]
>>> bucket = TokenBucket(per_minute=2, burst=2, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
>>> [bucket.acquire() for _ in range(3)]   # the third waits 30 s for a token
[0.0, 0.0, 30.0]
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tftrade.execution.errors import ExecutionError

__all__ = ["RetryPolicy", "TokenBucket"]


class TokenBucket:
    """``per_minute`` requests per minute, at most ``burst`` at once; :meth:`acquire` blocks until allowed.

    Parameters
    ----------
    per_minute
        Sustained rate (Alpaca: 200).
    burst
        Bucket size; defaults to ``per_minute`` (a fresh process may spend a minute's worth at once).
    clock, sleep
        Injected monotonic clock (seconds) and sleep, so tests never wait.
    """

    def __init__(self, per_minute: float = 200.0, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if not per_minute > 0:
            raise ExecutionError(f"token bucket rate must be > 0 requests per minute, got {per_minute!r}")
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else per_minute)
        if not self.capacity >= 1:
            raise ExecutionError(f"token bucket burst must be >= 1, got {burst!r}")
        self._clock, self._sleep = clock, sleep
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()
        self._blocked_until = 0.0

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                pause = self._blocked_until - now
                if pause <= 0 and self._tokens >= 1 - 1e-9:  # tolerance: float refills never stall
                    self._tokens = max(0.0, self._tokens - 1)
                    return waited
                if pause <= 0:
                    pause = max((1 - self._tokens) / self.rate, 1e-6)
            self._sleep(pause)
            waited += pause

    def block_for(self, seconds: float) -> None:
        """Let nobody through for ``seconds`` (the server said 429): every user of the bucket waits."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))
            self._tokens = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: ``max_attempts`` tries in all, back-off ``base_s * 2**k`` capped at ``cap_s``, full jitter.

    ``max_rate_limit_wait_s`` caps how long a 429's reset header may make us wait.
    """

    max_attempts: int = 5
    base_s: float = 0.25
    cap_s: float = 8.0
    max_rate_limit_wait_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_s < 0 or self.cap_s < 0 or self.max_rate_limit_wait_s < 0:
            raise ExecutionError(f"retry policy needs max_attempts >= 1 and non-negative waits, got {self}")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based): uniform in [0, min(cap, base·2^k)]."""
        return self.rng.uniform(0.0, min(self.cap_s, self.base_s * 2.0**attempt))

    def rate_limit_wait(self, reset_epoch_s: float | None, now_epoch_s: float, attempt: int) -> float:
        """Seconds to wait after a 429: until the reset time it announced (bounded), else the back-off."""
        if reset_epoch_s is None:
            return max(self.backoff(attempt), self.base_s)
        return min(self.max_rate_limit_wait_s, max(0.0, reset_epoch_s - now_epoch_s))
