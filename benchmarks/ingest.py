"""Ingest throughput and context-query latency. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/ingest.py [--rows 1000000] [--query-rows 5000000] [--pg URL]

1. bars/s ingesting ``--rows`` synthetic minute bars (validation + store, one atomic batch)
   into a fresh SQLite file and into PostgreSQL (COPY). Target ≥ 100k bars/s each.
2. p50/p95 of "latest 60 bars of one ticker" with ≥ ``--query-rows`` rows in PostgreSQL.
   Target p95 ≤ 5 ms.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, text

from tftrade.data.ingest import ingest_frame
from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.store.bars import latest_bars
from tftrade.store.engine import make_engine
from tftrade.store.migrate import upgrade

TICKERS = 100


def synthetic_frame(rows: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """``rows`` minute bars; each seed starts a year later, so fills never overlap."""
    days = max(1, round(rows / (TICKERS * 390)))
    market = generate_market(SyntheticConfig(n_tickers=TICKERS, days=days, seed=seed, comments_per_bar=0.0,
                                             spam_bursts=0, start=date(2000 + seed, 1, 3)))
    return market.bars_frame().assign(price_only=False)


def bench_ingest(engine: Engine, frame, label: str) -> None:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    s = ingest_frame(engine, frame, timeframe="1min", source=f"bench-{label}", kind="bench")
    secs = time.perf_counter() - start
    print(f"{label:>10}: {s.inserted:,} bars in {secs:.2f} s = {s.inserted / secs:,.0f} bars/s "
          f"(validation + store, one transaction)")


def pg_schema_engine(url: str) -> tuple[Engine, Engine, str]:
    admin = make_engine(url)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    eng = make_engine(f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}")
    upgrade(eng)
    return admin, eng, schema


def bench_latest(engine: Engine, tickers: list[str], n: int = 500) -> None:
    rng = np.random.default_rng(0)
    with engine.connect() as conn:
        for t in tickers[:5]:
            latest_bars(conn, t, "1min", 60)  # warm
        samples = []
        for _ in range(n):
            t = tickers[int(rng.integers(len(tickers)))]
            start = time.perf_counter()
            frame = latest_bars(conn, t, "1min", 60)
            samples.append((time.perf_counter() - start) * 1000)
            assert len(frame) == 60
    p50, p95 = np.percentile(samples, [50, 95])
    print(f"latest-60-bars query: p50 {p50:.2f} ms, p95 {p95:.2f} ms over {n} queries (target p95 <= 5 ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--query-rows", type=int, default=5_000_000)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()

    frame = synthetic_frame(args.rows, seed=24)
    print(f"generated {len(frame):,} synthetic minute bars for {TICKERS} tickers")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(sqlite)
        bench_ingest(sqlite, frame, "SQLite")
    admin, pg, schema = pg_schema_engine(args.pg)
    try:
        bench_ingest(pg, frame, "PostgreSQL")
        seed = 1
        while True:
            with pg.connect() as conn:
                total = conn.execute(text("SELECT count(*) FROM stocks_minute_candlesticks")).scalar_one()
            if total >= args.query_rows:
                break
            more = synthetic_frame(min(args.rows * 2, args.query_rows - total), seed)
            ingest_frame(pg, more, timeframe="1min", source=f"bench-fill-{seed}", kind="bench")
            seed += 1
        with pg.begin() as conn:
            conn.execute(text("ANALYZE stocks_minute_candlesticks"))
        print(f"PostgreSQL table holds {total:,} rows")
        bench_latest(pg, sorted(set(frame["ticker"])))
    finally:
        pg.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
