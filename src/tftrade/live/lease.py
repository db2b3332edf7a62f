"""A lease that keeps a singleton worker single: the trade worker runs only while it holds it.

Two implementations, chosen by the setting ``trade_lease`` (``TFTRADE_TRADE_LEASE``):

* :class:`RedisLease` (``redis``, the default): ``SET key owner NX PX ttl`` takes the lease; a
  renewal thread extends it every ``ttl / 3`` with a compare-and-extend script (only the owner may
  extend or release). A worker that loses the lease (Redis unreachable longer than the ttl, or
  another owner took over an expired lease) is stopped.
* :class:`PostgresLease` (``postgres``): a session advisory lock (``pg_try_advisory_lock``) on a
  connection of its own, released on shutdown and by PostgreSQL itself when that connection ends.
  A watch thread checks the connection every ``check_s``; if it died (server restart, backend
  terminated, network) the lock is gone and the worker is stopped.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any, Literal, Protocol

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
            If another owner holds the lease, or Redis cannot be reached to take it.
        """
        import redis

        try:
            got = self.acquire()
        except redis.exceptions.RedisError as e:
            raise LiveError(f"cannot take the trade lease {self.key}: Redis unreachable ({e})") from None
        if not got:
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


LeaseKind = Literal["redis", "postgres"]
"""Which lease guards the trade worker (setting ``trade_lease``)."""


class Lease(Protocol):
    """What the trade worker needs of a lease."""

    lost: threading.Event

    def hold(self, stop: threading.Event) -> None:
        """Take the lease (raise :class:`LiveError` if held elsewhere) and set ``stop`` if it is lost."""
        ...

    def release(self) -> None:
        """Give the lease up."""
        ...


def lock_id(key: str) -> int:
    """The signed 64-bit advisory-lock id of a lease key (stable across processes and machines).

    >>> lock_id("tftrade:lease:trade") == lock_id("tftrade:lease:trade") != lock_id("other")
    True
    """
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


class PostgresLease:
    """The lease ``key`` as a PostgreSQL session advisory lock held by ``owner`` (see the module docstring).

    ``url`` is a libpq URL (``postgresql://user@host:port/db``); the lease opens its own
    connection (``application_name`` = ``owner``, so :meth:`holder` can name who holds it).
    """

    def __init__(self, url: str, key: str, owner: str, check_s: float = 1.0) -> None:
        if check_s <= 0:
            raise LiveError(f"lease check interval {check_s} s must be positive")
        self.url, self.key, self.owner, self.check_s = url, key, owner, check_s
        self.id = lock_id(key)
        self._conn: Any = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self.lost = threading.Event()

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True, application_name=self.owner[:63])

    def acquire(self) -> bool:
        """Take the lock if nobody holds it (keeps the connection open while held)."""
        conn = self._connect()
        got = bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (self.id,)).fetchone()[0])
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def holder(self) -> str | None:
        """Who holds the lock now (the holder's ``application_name``; ``None``: nobody)."""
        hi, lo = (self.id >> 32) & 0xFFFFFFFF, self.id & 0xFFFFFFFF
        with self._connect() as conn:
            row = conn.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 1",
                (hi, lo)).fetchone()
        return None if row is None else str(row[0])

    def backend_pid(self) -> int | None:
        """The server process of the lock's connection (``None`` when not held)."""
        return None if self._conn is None else int(self._conn.info.backend_pid)

    def alive(self) -> bool:
        """True while the lock's connection answers (the lock lives as long as it)."""
        try:
            return self._conn is not None and self._conn.execute("SELECT 1").fetchone() is not None
        except Exception as e:
            log.warning("lease %s: connection lost: %s", self.key, e)
            return False

    def hold(self, stop: threading.Event) -> None:
        """Acquire and watch the connection in the background; ``stop`` is set if the lock is lost.

        Raises
        ------
        LiveError
            If another owner holds the lock.
        """
        if not self.acquire():
            raise LiveError(f"lease {self.key} (advisory lock {self.id}) is held by {self.holder()!r}: "
                            "only one trade worker may run")

        def watch() -> None:
            while not self._done.wait(self.check_s):
                if not self.alive():
                    log.error("lease %s lost (its PostgreSQL connection ended): stopping the worker", self.key)
                    self.lost.set()
                    stop.set()
                    return

        self._thread = threading.Thread(target=watch, name=f"lease:{self.key}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Unlock, close the connection and stop watching."""
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute("SELECT pg_advisory_unlock(%s)", (self.id,))
        except Exception as e:  # a dead connection has already let the lock go
            log.warning("could not release lease %s: %s", self.key, e)
        finally:
            conn.close()


def make_lease(kind: LeaseKind, key: str, owner: str, *, redis_url: str | None = None,
               database_url: str | None = None) -> Lease:
    """The lease of ``kind`` for ``key`` held by ``owner``.

    Raises
    ------
    LiveError
        If the lease's service is not configured (Redis URL, a PostgreSQL database URL).
    """
    if kind == "postgres":
        if not database_url or not database_url.split(":", 1)[0].startswith("postgresql"):
            raise LiveError("trade_lease=postgres needs a PostgreSQL database (TFTRADE_DATABASE_URL=postgresql://...); "
                            f"the database is {(database_url or 'unset').split(':', 1)[0]}")
        return PostgresLease(libpq_url(database_url), key, owner)
    if not redis_url:
        raise LiveError("trade_lease=redis needs Redis: set TFTRADE_REDIS_URL or pass --redis-url")
    import redis

    return RedisLease(redis.Redis.from_url(redis_url), key, owner)


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq takes it (the driver suffix dropped).

    >>> libpq_url("postgresql+psycopg://u:p@h:5432/db?options=-csearch_path%3Ds")
    'postgresql://u:p@h:5432/db?options=-csearch_path%3Ds'
    """
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"
