"""Replay: stored history through the live path lands in another store bar for bar."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from tftrade.data.ingest import ingest_synthetic
from tftrade.data.replay import ReplayConfig, ReplaySource
from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.live.ingest_worker import IngestWorker, IngestWorkerConfig
from tftrade.store.bars import read_bars
from tftrade.store.engine import make_engine
from tftrade.store.migrate import upgrade
from tftrade.stream.memory import InMemoryBus


def test_replay_through_bus_and_ingest_worker_reproduces_the_stored_bars(sqlite_engine: Engine,
                                                                        tmp_path: Path) -> None:
    ingest_synthetic(sqlite_engine, generate_market(SyntheticConfig(n_tickers=3, days=2, seed=4)))
    target = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    upgrade(target)
    bus = InMemoryBus()
    steps: list[int] = []
    stats = ReplaySource(bus, sqlite_engine, ReplayConfig(), on_step=lambda t, bars: steps.append(t)).run()
    worker = IngestWorker(bus, target, IngestWorkerConfig(count=1000, block_ms=10))
    stop = threading.Event()
    t = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while worker.counters.messages < stats.bars and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    t.join(10)
    original = read_bars(sqlite_engine)
    original = original[~original["price_only"]].reset_index(drop=True)
    replayed = read_bars(target)
    assert stats.bars == len(original) == 3 * 2 * 390 and steps == sorted(steps) and len(steps) == 780
    pd.testing.assert_frame_equal(replayed, original)
    assert worker.counters.quarantined == 0


def test_replay_at_n_times_speed_waits_the_scaled_bar_interval_and_caps_overnight_gaps(sqlite_engine: Engine) -> None:
    ingest_synthetic(sqlite_engine, generate_market(SyntheticConfig(n_tickers=2, days=2, seed=1)))
    waits: list[float] = []
    ReplaySource(InMemoryBus(), sqlite_engine, ReplayConfig(speed=120.0, max_gap_s=60.0), sleep=waits.append).run()
    assert len(waits) == 779 and set(waits) == {0.5}  # 60 s / 120, the overnight gap capped at 60 s
