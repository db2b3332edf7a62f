"""Bus throughput: bars/s through InMemoryBus and RedisStreamsBus. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/live.py [--tickers 500] [--minutes 200] [--buses memory,redis]
                                        [--consumers 2] [--store postgresql|sqlite] [--batch 5000]

For each bus, three figures over ``tickers x minutes`` minute bars (all inside XNYS sessions):

1. **publish**: bars/s one producer appends (``publish_many``, one call per minute of all tickers);
2. **bus round trip**: publish → consumer-group read → decode → ack, nothing stored;
3. **pipeline**: publish → read → decode → ``validate_bars`` → ``insert_bars`` (+ quarantine) → ack,
   by the real :class:`~tftrade.live.ingest_worker.IngestWorker`, wall time from the first publish
   until every bar is stored, with the producer running at the same time.

Then (``--no-worker-alone`` to skip) **worker alone**: one worker's ``handle`` on already decoded
batches of ``--batch`` bars, no bus and no producer, and the conversion + validation part of it alone
(the difference is the store write) — where the pipeline's time goes.

``redis-packed`` is Redis with ``pack=--pack`` messages per stream entry (one ``XADD`` and one entry
to read and ack per ``pack`` messages). Redis runs its ``--consumers`` consumers as separate
processes (one consumer group, each its own connection and database engine), as ``tftrade worker
ingest`` would scale out; the in-memory bus is in-process, so its consumers are threads sharing one
interpreter.
The store is PostgreSQL
(a fresh schema, COPY) or a SQLite file. The target is ≥ 100,000 bars/s through Redis Streams
with two consumers. On a shared 2-core machine every figure moves with the neighbours' load.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import text

from tftrade.core.calendar import TradingCalendar
from tftrade.data.validation import validate_bars
from tftrade.live.ingest_worker import BarColumns, IngestWorker, IngestWorkerConfig
from tftrade.store.engine import make_engine
from tftrade.store.migrate import upgrade
from tftrade.stream.bus import Bus, make_delivery
from tftrade.stream.consumer import ConsumerConfig, run_consumer
from tftrade.stream.memory import InMemoryBus
from tftrade.stream.messages import BarMessage, Message, encode
from tftrade.stream.redis_bus import RedisStreamsBus

REDIS_URL = os.environ.get("TFTRADE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_URL = os.environ.get("TFTRADE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def make_minutes(tickers: int, minutes: int) -> list[list[Message]]:
    starts = TradingCalendar(date(2024, 1, 2), date(2024, 12, 31)).minute_starts_ns()[:minutes]
    names = [f"T{k:04d}" for k in range(tickers)]
    rng = np.random.default_rng(0)
    out: list[list[Message]] = []
    for t in starts:
        closes = np.round(100 + rng.normal(0, 1, tickers), 2)
        out.append([BarMessage(n, int(t), float(c), float(c) + 0.5, float(c) - 0.5, float(c), 1000.0, source="bench")
                    for n, c in zip(names, closes, strict=True)])
    return out


def store_url(kind: str, tmp: str) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        return f"sqlite:///{tmp}/bench-{uuid.uuid4().hex[:6]}.db", lambda: None
    admin = make_engine(PG_URL)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    return f"{PG_URL}?options=-csearch_path%3D{schema}", drop


def publish_all(bus: Bus, batches: list[list[Message]]) -> float:
    t0 = time.perf_counter()
    for batch in batches:
        bus.publish_many("market_data", batch)
    return time.perf_counter() - t0


def round_trip(bus: Bus, batches: list[list[Message]], consumers: int, batch: int) -> tuple[float, float]:
    """Publish while ``consumers`` threads read+ack in one group; return (publish s, total s)."""
    total = sum(len(b) for b in batches)
    group = f"rt-{uuid.uuid4().hex[:6]}"
    bus.subscribe("market_data", group, "c0", from_start=False)
    stop, seen, lock = threading.Event(), [0], threading.Lock()

    def handle(deliveries: list[Any]) -> None:
        with lock:
            seen[0] += len(deliveries)
            if seen[0] >= total:
                stop.set()
    threads = [threading.Thread(target=run_consumer, args=(bus, ConsumerConfig(
        "market_data", group, f"c{k}", count=batch, block_ms=50, from_start=False), handle, stop), daemon=True)
        for k in range(consumers)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    pub = publish_all(bus, batches)
    stop.wait(600)
    elapsed = time.perf_counter() - t0
    for t in threads:
        t.join(10)
    return pub, elapsed


def _redis_consumer(prefix: str, db_url: str, name: str, batch: int, pack: int, stop: Any, done: Any) -> None:
    bus = RedisStreamsBus(REDIS_URL, prefix=prefix, pack=pack)
    engine = make_engine(db_url)
    worker = IngestWorker(bus, engine, IngestWorkerConfig(consumer=name, count=batch, block_ms=50))
    flag = threading.Event()

    def watch() -> None:
        stop.wait()
        flag.set()
    threading.Thread(target=watch, daemon=True).start()
    worker.run(flag)
    with done.get_lock():
        done.value += worker.counters.inserted
    engine.dispose()


def pipeline_redis(prefix: str, db_url: str, batches: list[list[Message]], consumers: int, batch: int,
                   pack: int) -> float:
    total = sum(len(b) for b in batches)
    bus = RedisStreamsBus(REDIS_URL, prefix=prefix, maxlen=total * 2, pack=pack)
    bus.subscribe("market_data", "ingest", "setup")
    ctx = mp.get_context("fork")
    stop, done = ctx.Event(), ctx.Value("q", 0)
    procs = [ctx.Process(target=_redis_consumer, args=(prefix, db_url, f"ingest-{k}", batch, pack, stop, done))
             for k in range(consumers)]
    for p in procs:
        p.start()
    engine = make_engine(db_url)
    t0 = time.perf_counter()
    publish_all(bus, batches)
    while _stored(engine) < total and time.perf_counter() - t0 < 900:
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    stop.set()
    for p in procs:
        p.join(60)
    engine.dispose()
    return elapsed


def pipeline_memory(db_url: str, batches: list[list[Message]], consumers: int, batch: int) -> float:
    total = sum(len(b) for b in batches)
    bus = InMemoryBus()
    engine = make_engine(db_url)
    stop = threading.Event()
    workers = [IngestWorker(bus, engine, IngestWorkerConfig(consumer=f"ingest-{k}", count=batch, block_ms=50))
               for k in range(consumers)]
    bus.subscribe("market_data", "ingest", "setup")
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    publish_all(bus, batches)
    while sum(w.counters.inserted for w in workers) < total and time.perf_counter() - t0 < 900:
        time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join(30)
    engine.dispose()
    return elapsed


def worker_alone(db_url: str, batches: list[list[Message]], batch: int) -> tuple[float, float]:
    """One ingest worker's ``handle`` on decoded batches, no bus: (bars/s stored, bars/s validated only).

    The second figure runs only the worker's conversion and ``validate_bars`` on the same batches, so
    the difference is the store write (``insert_bars`` + commit).
    """
    flat = [m for minute in batches for m in minute]
    deliveries = [make_delivery("market_data", str(k), encode(m)) for k, m in enumerate(flat)]
    chunks = [deliveries[k : k + batch] for k in range(0, len(deliveries), batch)]
    engine = make_engine(db_url)
    worker = IngestWorker(InMemoryBus(), engine)
    t0 = time.perf_counter()
    for chunk in chunks:
        worker.handle(chunk)
    stored_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for chunk in chunks:
        bars = [d.message for d in chunk if isinstance(d.message, BarMessage)]
        for (tf, _), frame in BarColumns.of(bars).frames().items():
            validate_bars(frame, tf)
    checked_s = time.perf_counter() - t0
    engine.dispose()
    return len(flat) / stored_s, len(flat) / checked_s


def _stored(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM stocks_minute_candlesticks")).scalar_one())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickers", type=int, default=500)
    ap.add_argument("--minutes", type=int, default=200)
    ap.add_argument("--buses", default="memory,redis,redis-packed")
    ap.add_argument("--pack", type=int, default=100, help="messages per stream entry for redis-packed")
    ap.add_argument("--consumers", type=int, default=2)
    ap.add_argument("--store", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--batch", type=int, default=5000, help="messages per consumer read")
    ap.add_argument("--worker-alone", action=argparse.BooleanOptionalAction, default=True,
                    help="also time one ingest worker on decoded batches without a bus (and validation alone)")
    args = ap.parse_args()
    batches = make_minutes(args.tickers, args.minutes)
    total = sum(len(b) for b in batches)
    print(f"{total:,} bars ({args.tickers} tickers x {args.minutes} minutes), {args.consumers} consumers, "
          f"store {args.store}, read batch {args.batch}; cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.buses.split(","):
            prefix = f"bench:{uuid.uuid4().hex[:8]}"
            pack = args.pack if kind == "redis-packed" else 1

            def make(suffix: str, pack: int = pack, prefix: str = prefix, kind: str = kind) -> Bus:
                if kind == "memory":
                    return InMemoryBus()
                return RedisStreamsBus(REDIS_URL, prefix=prefix + suffix, maxlen=total * 2, pack=pack)
            bus, fresh = make(""), make(":rt")
            pub_s = publish_all(bus, batches)
            _, rt_s = round_trip(fresh, batches, args.consumers, args.batch)
            url, drop = store_url(args.store, tmp)
            upgrade(make_engine(url))
            try:
                if kind == "memory":
                    pipe_s = pipeline_memory(url, batches, args.consumers, args.batch)
                else:
                    pipe_s = pipeline_redis(prefix + ":pipe", url, batches, args.consumers, args.batch, pack)
            finally:
                drop()
                for b in (bus, fresh):
                    if isinstance(b, RedisStreamsBus):
                        b.delete_topics()
                if kind != "memory":
                    RedisStreamsBus(REDIS_URL, prefix=prefix + ":pipe").delete_topics()
            label = f"redis/pack={pack}" if kind == "redis-packed" else kind
            print(f"{label:>14}: publish {total / pub_s:>10,.0f} bars/s | publish->consume->ack "
                  f"{total / rt_s:>10,.0f} bars/s | publish->consume->validate->store {total / pipe_s:>10,.0f} bars/s "
                  f"({pipe_s:.2f} s)")
        if args.worker_alone:
            url, drop = store_url(args.store, tmp)
            upgrade(make_engine(url))
            try:
                stored, checked = worker_alone(url, batches, args.batch)
            finally:
                drop()
            print(f"{'worker alone':>14}: decoded batches -> validate -> store {stored:>10,.0f} bars/s | "
                  f"conversion + validation only {checked:>10,.0f} bars/s (one consumer, no bus)")
    print(f"load after: {os.getloadavg()[0]:.1f} (shared machine: figures move with the neighbours' load)")


if __name__ == "__main__":
    main()
