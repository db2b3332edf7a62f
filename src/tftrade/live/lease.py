"""A lease in Redis that keeps a singleton worker single: the trade worker runs only while it holds it.

``SET key owner NX PX ttl`` takes the lease; a renewal thread extends it every ``ttl / 3`` with a
compare-and-extend script (only the owner may extend or release). A worker that loses the lease
(Redis unreachable longer than the ttl, or another owner took over an expired lease) is stopped.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from tftrade.live.errors import LiveError

log = logging.getLogger(__name__)

_RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
          "else return 0 end")
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisLease:
    """The lease ``key`` held by ``owner`` for ``ttl_ms`` at a time (see the module docstring)."""

    def __init__(self, client: Any, key: str, owner: str, ttl_ms: int = 10_000) -> None:
        if ttl_ms < 100:
            raise LiveError(f"lease ttl {ttl_ms} ms is too short (>= 100 ms)")
        self.client, self.key, self.owner, self.ttl_ms = client, key, owner, ttl_ms
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self.lost = threading.Event()

    def acquire(self) -> bool:
        """Take the lease if nobody holds it."""
        return bool(self.client.set(self.key, self.owner, nx=True, px=self.ttl_ms))

    def holder(self) -> str | None:
        """Who holds the lease now (``None``: nobody)."""
        got = self.client.get(self.key)
        return None if got is None else (got.decode() if isinstance(got, bytes) else str(got))

    def renew(self) -> bool:
        """Extend the lease; False if this owner no longer holds it."""
        return bool(self.client.eval(_RENEW, 1, self.key, self.owner, self.ttl_ms))

    def release(self) -> None:
        """Give the lease up (only if still ours) and stop renewing."""
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.client.eval(_RELEASE, 1, self.key, self.owner)
        except Exception as e:  # an expired lease frees itself
            log.warning("could not release lease %s: %s", self.key, e)

    def hold(self, stop: threading.Event) -> None:
        """Acquire and keep renewing in the background; ``stop`` is set if the lease is lost.

        Raises
        ------
        LiveError
            If another owner holds the lease.
        """
        if not self.acquire():
            raise LiveError(f"lease {self.key} is held by {self.holder()!r}: only one trade worker may run")

        def renew_loop() -> None:
            while not self._done.wait(self.ttl_ms / 3000):
                try:
                    ok = self.renew()
                except Exception as e:
                    log.warning("lease %s: renewal failed: %s", self.key, e)
                    continue
                if not ok:
                    log.error("lease %s lost: stopping the worker", self.key)
                    self.lost.set()
                    stop.set()
                    return

        self._thread = threading.Thread(target=renew_loop, name=f"lease:{self.key}", daemon=True)
        self._thread.start()
