"""The trade worker's lease as a PostgreSQL advisory lock, against the real server: one holder at a time,
the lock freed when its holder releases it or its connection dies (and the holder is then stopped)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from tftrade.live.errors import LiveError
from tftrade.live.lease import PostgresLease, libpq_url, make_lease


@pytest.fixture
def url(pg_engine: Engine) -> str:
    return libpq_url(pg_engine.url.render_as_string(hide_password=False))


@pytest.fixture
def key() -> Iterator[str]:
    yield f"test:lease:{uuid.uuid4().hex}"  # advisory locks are database-wide: a key of our own


@pytest.mark.integration
def test_a_second_holder_is_refused_until_the_first_releases(url: str, key: str) -> None:
    first, second = PostgresLease(url, key, "one", check_s=0.1), PostgresLease(url, key, "two", check_s=0.1)
    stop = threading.Event()
    first.hold(stop)
    try:
        with pytest.raises(LiveError, match="held by 'one'"):
            second.hold(threading.Event())
        assert first.holder() == "one"
    finally:
        first.release()
    assert first.holder() is None and not stop.is_set() and not first.lost.is_set()
    assert second.acquire()
    second.release()


@pytest.mark.integration
def test_killing_the_holders_connection_frees_the_lock_and_stops_the_holder(url: str, key: str,
                                                                             pg_engine: Engine) -> None:
    first, second = PostgresLease(url, key, "one", check_s=0.1), PostgresLease(url, key, "two", check_s=0.1)
    stop = threading.Event()
    first.hold(stop)
    assert not second.acquire()
    with pg_engine.begin() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first.backend_pid()}).scalar()
    assert first.lost.wait(30.0) and stop.is_set()  # the watch saw its connection end and stopped the worker
    assert second.acquire()  # the server let the lock go with the session
    first.release()  # a dead connection: nothing to unlock, no error
    assert second.holder() == "two"
    second.release()


def test_the_lease_kind_is_a_setting_and_postgres_needs_a_postgres_database() -> None:
    from tftrade.core.config import Settings

    assert Settings(trade_lease="postgres").trade_lease == "postgres"
    with pytest.raises(ValueError, match="trade_lease"):
        Settings(trade_lease="zookeeper")  # type: ignore[arg-type]
    with pytest.raises(LiveError, match="PostgreSQL database"):
        make_lease("postgres", "k", "me", database_url="sqlite:///x.db")
    lease = make_lease("postgres", "k", "me", database_url="postgresql+psycopg://u@h:5432/db")
    assert isinstance(lease, PostgresLease) and lease.url == "postgresql://u@h:5432/db"
    with pytest.raises(LiveError, match="needs Redis"):
        make_lease("redis", "k", "me")


@pytest.mark.integration
def test_the_trade_worker_holds_the_postgres_lease_when_the_setting_says_so(pg_engine: Engine,
                                                                            tmp_path: object) -> None:
    import pandas as pd

    from tftrade.core.config import Settings
    from tftrade.data.ingest import ingest_synthetic
    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.live.app import LiveOptions, run_worker

    from .conftest import redis_or_skip

    redis_or_skip()  # the bus is Redis Streams; the lease is not
    ingest_synthetic(pg_engine, generate_market(SyntheticConfig(n_tickers=3, days=1, seed=2)))
    opts = LiveOptions(strategy="sma", redis_url="redis://127.0.0.1:6379/0", bus_prefix=f"test:{uuid.uuid4().hex}",
                       warm_start=False)
    cfg = Settings(home=tmp_path, trade_lease="postgres")  # type: ignore[arg-type]
    noon = pd.Timestamp("2024-01-03 12:00", tz="America/New_York").value
    stop, result = threading.Event(), {}

    class Clock:
        def now_ns(self) -> int:
            return int(noon)

    def work() -> None:
        try:
            result.update(run_worker("trade", pg_engine, opts, lambda e: None, stop, Clock(), settings=cfg))
        except Exception as e:  # shown by the assertion below
            result["error"] = repr(e)

    th = threading.Thread(target=work)
    th.start()
    lease = PostgresLease(libpq_url(pg_engine.url.render_as_string(hide_password=False)),
                          f"{opts.bus_prefix}:lease:trade", "probe")
    try:
        for _ in range(1200):
            if lease.holder() is not None or not th.is_alive():
                break
            stop.wait(0.1)
        assert (lease.holder() or "").startswith("trade-"), result
        with pytest.raises(LiveError, match="only one trade worker may run"):
            run_worker("trade", pg_engine, opts, lambda e: None, threading.Event(), settings=cfg)
    finally:
        stop.set()
        th.join(60)
    assert result["worker"] == "trade" and not result["lease_lost"]
    assert lease.holder() is None  # released on shutdown
