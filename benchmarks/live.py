"""Bus throughput: bars/s through InMemoryBus and RedisStreamsBus. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/live.py [--tickers 500] [--minutes 200] [--buses memory,redis,redis-packed]
                                        [--consumers 2] [--store postgresql|sqlite] [--batch 5000]
                                        [--no-stages] [--cprofile]

For each bus, three figures over ``tickers x minutes`` minute bars (all inside XNYS sessions):

1. **publish**: bars/s one producer appends (``publish_many``, one call per minute of all tickers);
2. **bus round trip**: publish → consumer-group read → decode → ack, nothing stored;
3. **pipeline**: publish → read → decode → validation → store (+ quarantine) → ack, by the real
   :class:`~tftrade.live.ingest_worker.IngestWorker`, wall time from the first publish until every
   bar is stored (the consumers report their counters), with the producer running at the same time;
   below it the run's **CPU per bar** by part: publisher, consumers, the PostgreSQL backends of the
   run (by ``application_name``, from ``/proc``: same host only) and Redis (``INFO cpu``, every
   client), and what the machine's idle cores would carry at that cost.

Then (``--no-stages`` to skip) **stages**: one consumer's steps on ``--batch``-bar chunks without a
bus or producer — decode, validate, store, and the worker's whole ``handle`` — in wall bars/s and
CPU µs per bar of the consumer; ``--cprofile`` prints the top functions of ``handle``.

``redis-packed`` is Redis with ``pack=--pack`` messages per stream entry (one ``XADD`` and one entry
to read and ack per ``pack`` messages). Redis runs its ``--consumers`` consumers as separate
processes (one consumer group, each its own connection and database engine), as ``tftrade worker
ingest`` would scale out; the in-memory bus is in-process, so its consumers are threads sharing one
interpreter with the publisher (its CPU line counts the whole process as consumers).
The store is PostgreSQL (a fresh schema, binary COPY) or a SQLite file. The target is ≥ 100,000
bars/s through Redis Streams with two consumers. On a shared 2-core machine every wall figure moves
with the neighbours' load; the CPU figures much less.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing as mp
import os
import pstats
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import redis
from sqlalchemy import text

from tftrade.core.calendar import TradingCalendar
from tftrade.live.ingest_worker import BarColumns, IngestWorker, IngestWorkerConfig
from tftrade.store.bars import insert_bar_rows
from tftrade.store.engine import make_engine
from tftrade.store.migrate import upgrade
from tftrade.stream.bus import Bus, make_deliveries
from tftrade.stream.consumer import ConsumerConfig, run_consumer
from tftrade.stream.memory import InMemoryBus
from tftrade.stream.messages import BarMessage, Message, encode_many
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


def _redis_consumer(prefix: str, db_url: str, name: str, batch: int, pack: int, stop: Any, slot: int,
                    stored: Any, cpu: Any) -> None:
    bus = RedisStreamsBus(REDIS_URL, prefix=prefix, pack=pack)
    engine = make_engine(db_url)
    worker = IngestWorker(bus, engine, IngestWorkerConfig(consumer=name, count=batch, block_ms=50))
    flag = threading.Event()

    def watch() -> None:
        while not stop.wait(0.01):
            stored[slot] = worker.counters.inserted
        flag.set()
    threading.Thread(target=watch, daemon=True).start()
    worker.run(flag)
    stored[slot] = worker.counters.inserted
    cpu[slot] = time.process_time()
    engine.dispose()


def pipeline_redis(prefix: str, db_url: str, batches: list[list[Message]], consumers: int, batch: int,
                   pack: int) -> tuple[float, Cpu]:
    """Publish while ``consumers`` processes ingest; return (wall s until all stored, CPU seconds by part)."""
    total = sum(len(b) for b in batches)
    bus = RedisStreamsBus(REDIS_URL, prefix=prefix, maxlen=total * 2, pack=pack)
    bus.subscribe("market_data", "ingest", "setup")
    ctx = mp.get_context("fork")
    stop, stored, cpu = ctx.Event(), ctx.Array("q", consumers), ctx.Array("d", consumers)
    app = f"bench-{uuid.uuid4().hex[:8]}"
    procs = [ctx.Process(target=_redis_consumer, args=(prefix, _with_app(db_url, app), f"ingest-{k}", batch, pack,
                                                       stop, k, stored, cpu))
             for k in range(consumers)]
    for p in procs:
        p.start()
    meter = CpuMeter(db_url, app)
    t0 = time.perf_counter()
    publish_all(bus, batches)
    published = time.process_time()
    while sum(stored[:]) < total and time.perf_counter() - t0 < 900:
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    database, redis_s = meter.database(), meter.redis()
    stop.set()
    for p in procs:
        p.join(60)
    return elapsed, Cpu(publisher=published - meter.main0, consumers=sum(cpu[:]), database=database, redis=redis_s)


def pipeline_memory(db_url: str, batches: list[list[Message]], consumers: int, batch: int) -> tuple[float, Cpu]:
    """Publish while ``consumers`` threads ingest; return (wall s until all stored, CPU seconds by part)."""
    total = sum(len(b) for b in batches)
    bus = InMemoryBus()
    app = f"bench-{uuid.uuid4().hex[:8]}"
    engine = make_engine(_with_app(db_url, app))
    stop = threading.Event()
    workers = [IngestWorker(bus, engine, IngestWorkerConfig(consumer=f"ingest-{k}", count=batch, block_ms=50))
               for k in range(consumers)]
    bus.subscribe("market_data", "ingest", "setup")
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    meter = CpuMeter(db_url, app)
    t0 = time.perf_counter()
    publish_all(bus, batches)
    while sum(w.counters.inserted for w in workers) < total and time.perf_counter() - t0 < 900:
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    cpu = Cpu(publisher=0.0, consumers=time.process_time() - meter.main0, database=meter.database(), redis=0.0)
    stop.set()
    for t in threads:
        t.join(30)
    engine.dispose()
    return elapsed, cpu


@dataclass
class Cpu:
    """CPU seconds a pipeline run used, by part: what the run costs the machine, whatever the neighbours do."""

    publisher: float
    consumers: float
    database: float
    redis: float

    def line(self, bars: int) -> str:
        us = {k: v / bars * 1e6 for k, v in vars(self).items()}
        total = sum(us.values())
        parts = " + ".join(f"{k} {v:.1f}" for k, v in us.items() if v)
        cores = os.cpu_count() or 1
        return (f"CPU per bar: {parts} = {total:.1f} us; {cores} idle cores would carry "
                f"~{cores * 1e6 / total:,.0f} bars/s")


class CpuMeter:
    """CPU time of this process, of the PostgreSQL backends of one ``application_name``, and of Redis."""

    def __init__(self, db_url: str, app: str) -> None:
        self.main0 = time.process_time()
        self._db_url, self._app = db_url, app
        self._redis0 = self._redis_now()

    def database(self) -> float:
        """CPU seconds of the run's backends since they connected (0 for SQLite: it runs in the consumers)."""
        if self._db_url.startswith("sqlite"):
            return 0.0
        engine = make_engine(self._db_url)
        with engine.connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
                                {"a": self._app}).scalars().all()
        engine.dispose()
        return sum(_proc_cpu(pid) for pid in pids)

    def redis(self) -> float:
        """CPU seconds the Redis server used since this meter started (every client's commands)."""
        return self._redis_now() - self._redis0

    @staticmethod
    def _redis_now() -> float:
        client = redis.Redis.from_url(REDIS_URL)
        info = client.info("cpu")
        client.close()
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _proc_cpu(pid: int) -> float:
    """utime + stime of a local process (0 if it is not readable here)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _with_app(db_url: str, app: str) -> str:
    if db_url.startswith("sqlite"):
        return db_url
    return f"{db_url}{'&' if '?' in db_url else '?'}application_name={app}"


def stages(db_url: str, batches: list[list[Message]], batch: int, profile: bool) -> dict[str, tuple[float, float]]:
    """One consumer's stages on ``batch``-message chunks, no bus: (bars/s wall, CPU µs per bar of this process).

    decode: payloads -> deliveries (:func:`make_deliveries`, what a bus read does); validate: deliveries ->
    columns -> :meth:`BarColumns.check`; store: :func:`insert_bar_rows` + commit (the database's own CPU is not
    in this process's figure); handle: the worker's whole ``handle`` (validate + store + session and late-bar
    bookkeeping) on the decoded chunks, on an emptied store.
    """
    raws = encode_many([m for minute in batches for m in minute])
    chunks = [raws[k : k + batch] for k in range(0, len(raws), batch)]
    spans = {k: [0.0, 0.0] for k in ("decode", "validate", "store", "handle")}
    engine = make_engine(db_url)

    def clocks() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def add(name: str, since: tuple[float, float]) -> tuple[float, float]:
        now = clocks()
        spans[name][0] += now[0] - since[0]
        spans[name][1] += now[1] - since[1]
        return now

    decoded = []
    for k, chunk in enumerate(chunks):
        t = clocks()
        decoded.append(make_deliveries("market_data", [f"{k}-{j}" for j in range(len(chunk))], chunk)[0])
        add("decode", t)
    for part in decoded:
        t = clocks()
        cols = BarColumns.of([d.message for d in part if isinstance(d.message, BarMessage)])
        checked = {key: cols.check(key[0], idx) for key, idx in cols.groups().items()}
        t = add("validate", t)
        with engine.begin() as conn:
            for (tf, src), c in checked.items():
                insert_bar_rows(conn, c.good, tf, src)
        add("store", t)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM stocks_minute_candlesticks"))
    worker = IngestWorker(InMemoryBus(), engine)
    prof = cProfile.Profile() if profile else None
    t = clocks()
    if prof is not None:
        prof.enable()
    for part in decoded:
        worker.handle(part)
    if prof is not None:
        prof.disable()
    add("handle", t)
    engine.dispose()
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    return {k: (len(raws) / wall, cpu / len(raws) * 1e6) for k, (wall, cpu) in spans.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickers", type=int, default=500)
    ap.add_argument("--minutes", type=int, default=200)
    ap.add_argument("--buses", default="memory,redis,redis-packed")
    ap.add_argument("--pack", type=int, default=100, help="messages per stream entry for redis-packed")
    ap.add_argument("--consumers", type=int, default=2)
    ap.add_argument("--store", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--batch", type=int, default=5000, help="messages per consumer read")
    ap.add_argument("--stages", action=argparse.BooleanOptionalAction, default=True,
                    help="also time one consumer's stages (decode, validate, store, handle) without a bus")
    ap.add_argument("--cprofile", action="store_true", help="print cProfile's top functions of the worker's handle")
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
                    pipe_s, cpu = pipeline_memory(url, batches, args.consumers, args.batch)
                else:
                    pipe_s, cpu = pipeline_redis(prefix + ":pipe", url, batches, args.consumers, args.batch, pack)
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
            print(f"{'':>14}  {cpu.line(total)}")
        if args.stages or args.cprofile:
            url, drop = store_url(args.store, tmp)
            upgrade(make_engine(url))
            try:
                rates = stages(url, batches, args.batch, args.cprofile)
            finally:
                drop()
            print(f"{'stages':>14}: " + " | ".join(f"{k} {v:,.0f} bars/s ({us:.1f} us CPU)"
                                                    for k, (v, us) in rates.items())
                  + " (one consumer, no bus; CPU of the consumer only)")
    print(f"load after: {os.getloadavg()[0]:.1f} (shared machine: figures move with the neighbours' load)")


if __name__ == "__main__":
    main()
