"""Engine factory: one place that turns a URL into a configured SQLAlchemy engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from tftrade.core.config import mask_url, scrub, url_secrets
from tftrade.core.errors import StoreError, first_line


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` and check that the database answers.

    SQLite files get their folder created, WAL journaling (readers never block the writer),
    a busy timeout of ``SQLITE_BUSY_TIMEOUT_S`` seconds (a writer waits for another one instead of
    failing with ``database is locked``) and foreign keys on; the first connection is retried
    while another process holds the lock. PostgreSQL URLs use psycopg 3 (``postgresql://`` is
    read as ``postgresql+psycopg://``).

    Raises
    ------
    StoreError
        If the URL is malformed or the database cannot be reached; the message
        shows the URL with its password masked.
    """
    _check_userinfo(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"database URL {mask_url(url)!r} is not a valid SQLAlchemy URL") from None
    except ValueError:  # a port that is not a number
        port = mask_url(url).partition("://")[2].partition("/")[0].rpartition("@")[2].rpartition(":")[2]
        raise StoreError(f"database URL {mask_url(url)!r} has an invalid port {port!r}") from None
    if parsed.drivername.partition("+")[0] == "postgres":
        raise StoreError(f"database URL {mask_url(url)!r}: write postgresql:// instead of postgres:// "
                         "(SQLAlchemy knows only the long name)")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed, **_engine_options(parsed.get_backend_name()))
    except Exception as e:  # missing driver, bad option
        raise StoreError(f"cannot create engine for {mask_url(url)!r}: {scrub(str(e), url_secrets(url))}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    for attempt in range(_CONNECT_RETRIES):
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            break
        except OperationalError as e:
            reason = scrub(first_line(e.orig) if e.orig else str(e), url_secrets(url))
            if "locked" in reason.lower() and attempt < _CONNECT_RETRIES - 1:
                time.sleep(0.2 * 2**attempt)
                continue
            raise StoreError(f"cannot connect to database {mask_url(url)!r}: {reason}") from None
    return engine


def _check_userinfo(url: str) -> None:
    """Refuse a URL whose user or password holds a raw ``@``: it would be read as the host's start."""
    rest = url.partition("://")[2].partition("?")[0].partition("/")[0]
    if rest.count("@") > 1:
        raise StoreError(f"database URL {mask_url(url)!r} has an unescaped '@' in its user or password: "
                         "percent-encode it as %40")


def sqlite_path(url: str) -> Path | None:
    """Return the file of a SQLite URL (``None`` for other databases and in-memory SQLite).

    Examples
    --------
    >>> sqlite_path("sqlite:////tmp/x/t.db"), sqlite_path("postgresql://db/x"), sqlite_path("sqlite://")
    (PosixPath('/tmp/x/t.db'), None, None)
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # make_engine says what is wrong
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


#: Seconds an SQLite connection waits for a lock before ``database is locked``.
SQLITE_BUSY_TIMEOUT_S = 30.0
_CONNECT_RETRIES = 5


def _engine_options(backend: str) -> dict[str, Any]:
    if backend == "postgresql":
        return {"pool_pre_ping": True}
    if backend == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    return {}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def upsert_insert(bind: Engine | Connection) -> Callable[..., Any]:
    """The dialect's ``insert`` construct, which has ``on_conflict_do_nothing`` / ``on_conflict_do_update``.

    Raises
    ------
    StoreError
        For a backend other than SQLite and PostgreSQL.
    """
    if bind.dialect.name == "postgresql":
        return pg_insert
    if bind.dialect.name == "sqlite":
        return sqlite_insert
    raise StoreError(f"upserts are implemented for SQLite and PostgreSQL, not {bind.dialect.name!r}")
