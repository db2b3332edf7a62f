"""The ingest worker: bars stored once, bad input quarantined with its raw frame, late bars counted."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from tftrade.live.ingest_worker import BarColumns, IngestWorker, IngestWorkerConfig, _late_bars
from tftrade.store.bars import read_bars
from tftrade.store.runs import list_quarantine, list_runs
from tftrade.stream.bus import Bus, make_delivery
from tftrade.stream.memory import InMemoryBus
from tftrade.stream.messages import BarMessage, MalformedFrame, encode

T0 = int(pd.Timestamp("2024-01-02 15:00", tz="UTC").value)  # 10:00 New York
MIN = 60_000_000_000


def bar(ticker: str, k: int, close: float = 10.5, **kw: object) -> BarMessage:
    return BarMessage(ticker, T0 + k * MIN, 10.0, 11.0, 9.0, close, 100.0, source="test", **kw)  # type: ignore[arg-type]


def run_until(worker: IngestWorker, n_messages: int) -> None:
    stop = threading.Event()
    t = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while worker.counters.messages < n_messages and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    t.join(10)
    assert worker.counters.messages == n_messages


def test_bars_are_stored_once_and_faults_are_quarantined_with_the_raw_frame(sqlite_engine: Engine) -> None:
    bus = InMemoryBus()
    worker = IngestWorker(bus, sqlite_engine, IngestWorkerConfig(count=4, block_ms=10))
    msgs = [bar("AAPL", 0), bar("AAPL", 2), bar("AAPL", 1),  # out of order
            bar("AAPL", 2), bar("MSFT", 0),                 # duplicate
            BarMessage("MSFT", T0 + MIN, 10.0, 9.0, 9.5, 10.5, 5.0, source="test"),  # high below close
            BarMessage("MSFT", T0 - 120 * MIN, 10.0, 11.0, 9.0, 10.5, 5.0, source="test"),  # 08:00 New York
            MalformedFrame("massive-ws", '[{"ev":"AM","sym":"X","o":"oops"}]', "o: expected a number")]
    bus.publish_many("market_data", msgs)
    bus.publish_raw("market_data", b'{"type":"bar","ticker":')
    run_until(worker, len(msgs) + 1)

    stored = read_bars(sqlite_engine, ["AAPL", "MSFT"])
    assert stored.groupby("ticker").size().to_dict() == {"AAPL": 3, "MSFT": 1}
    c = worker.counters
    assert (c.inserted, c.duplicates, c.quarantined, c.outside_session, c.late) == (4, 1, 3, 1, 1)
    q = list_quarantine(sqlite_engine)
    reasons = sorted(r["reason"] for r in q["rows"])
    assert q["total"] == 3
    assert any("high 9.0 below max(open, close)" in r for r in reasons)
    assert any(r.startswith("massive-ws: o: expected a number") for r in reasons)
    assert any(r.startswith("undecodable bus message: not a JSON message") for r in reasons)
    raws = " ".join(r["raw"] for r in q["rows"])
    assert '"sym":"X"' in raws and '{"type":"bar","ticker":"MSFT"' in raws  # the exact bus frames
    assert bus.pending("market_data", "ingest") == 0
    run = list_runs(sqlite_engine)[0]
    assert (run["kind"], run["status"], run["inserted"], run["duplicates"], run["quarantined"]) == (
        "stream", "ok", 4, 1, 3)


def test_replaying_the_same_bars_stores_nothing_twice(sqlite_engine: Engine) -> None:
    bus: Bus = InMemoryBus()
    worker = IngestWorker(bus, sqlite_engine, IngestWorkerConfig(count=50, block_ms=10))
    msgs = [bar(t, k) for k in range(20) for t in ("AAPL", "MSFT")]
    bus.publish_many("market_data", msgs)
    bus.publish_many("market_data", msgs)
    run_until(worker, 80)
    assert len(read_bars(sqlite_engine)) == 40
    assert (worker.counters.inserted, worker.counters.duplicates) == (40, 40)


def test_a_database_failure_acks_nothing_and_the_batch_is_stored_after_recovery(sqlite_engine: Engine) -> None:
    bus = InMemoryBus()
    calls = {"n": 0}
    worker = IngestWorker(bus, sqlite_engine, IngestWorkerConfig(count=100, block_ms=10))
    real = worker.handle

    def flaky(batch):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database is locked")
        real(batch)
    worker.handle = flaky  # type: ignore[method-assign]
    bus.publish_many("market_data", [bar("AAPL", k) for k in range(10)])
    run_until(worker, 10)
    assert len(read_bars(sqlite_engine)) == 10
    assert worker.consumer_stats.handler_errors == 1 and bus.pending("market_data", "ingest") == 0


def test_a_message_the_store_keeps_refusing_is_quarantined_and_the_rest_stored(sqlite_engine: Engine) -> None:
    bus = InMemoryBus()
    worker = IngestWorker(bus, sqlite_engine, IngestWorkerConfig(count=100, block_ms=10))
    real = worker.handle

    def refuses_bad(batch):  # type: ignore[no-untyped-def]
        if any(getattr(d.message, "ticker", "") == "BAD" for d in batch):
            raise RuntimeError("numeric field overflow")
        real(batch)
    worker.handle = refuses_bad  # type: ignore[method-assign]
    bus.publish_many("market_data", [bar("AAPL", k) for k in range(5)] + [bar("BAD", 0)] + [bar("MSFT", 0)])
    stop = threading.Event()
    t = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while worker.consumer_stats.dead_lettered < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    stop.set()
    t.join(10)
    assert len(read_bars(sqlite_engine)) == 6
    q = list_quarantine(sqlite_engine)["rows"]
    assert len(q) == 1 and '"ticker":"BAD"' in q[0]["raw"] and "numeric field overflow" in q[0]["reason"]
    assert bus.pending("market_data", "ingest") == 0


def _late_reference(tickers: list[str], times: list[int], newest: dict[str, int]) -> int:
    late = 0
    for t, ns in zip(tickers, times, strict=True):
        if t in newest and ns < newest[t]:
            late += 1
        newest[t] = max(newest.get(t, ns), ns)
    return late


@pytest.mark.parametrize("in_order", [True, False])
def test_late_count_matches_bar_by_bar_over_batches(in_order: bool) -> None:
    rng = np.random.default_rng(3)
    fast: dict[str, int] = {}
    slow: dict[str, int] = {}
    for _ in range(30):
        n = int(rng.integers(0, 40))
        tickers = rng.choice(["A", "B", "C", "D"], n).tolist()
        times = (T0 + rng.integers(0, 50, n) * MIN).tolist()
        if in_order:
            times = sorted(times)  # each ticker in time order: the vectorised path
        expected = _late_reference(tickers, times, slow)
        got = _late_bars(np.array(tickers, dtype=object), np.array(times, dtype=np.int64), fast)
        assert (got, fast) == (expected, slow)


def test_a_mixed_batch_is_split_per_timeframe_and_source_and_only_minute_bars_are_session_checked(
        sqlite_engine: Engine) -> None:
    day = int(pd.Timestamp("2024-01-02", tz="America/New_York").value)
    msgs = [bar("AAPL", 0), BarMessage("AAPL", day, 10.0, 11.0, 9.0, 10.5, 1e6, timeframe="1d", source="eod"),
            BarMessage("AAPL", T0 - 120 * MIN, 10.0, 11.0, 9.0, 10.5, 5.0, timeframe="1m", source="test"),  # 08:00
            BarMessage("MSFT", T0 + MIN, 10.0, 11.0, 9.0, 10.5, 5.0, timeframe="minute", source="other")]
    cols = BarColumns.of(msgs)
    assert cols.is_minute().tolist() == [True, False, True, True]
    frames = cols.frames()
    assert {k: f["raw_row"].tolist() for k, f in frames.items()} == {
        ("1min", "test"): [0, 2], ("1day", "eod"): [1], ("1min", "other"): [3]}
    worker = IngestWorker(InMemoryBus(), sqlite_engine)
    worker.handle([make_delivery("market_data", str(k), encode(m)) for k, m in enumerate(msgs)])
    assert (worker.counters.inserted, worker.counters.outside_session, worker.counters.quarantined) == (3, 1, 0)
    stored = read_bars(sqlite_engine, ["AAPL"], "1day")
    assert len(stored) == 1 and stored["volume"].tolist() == [1_000_000]


def test_a_volume_too_large_for_bigint_is_quarantined_not_wrapped(sqlite_engine: Engine) -> None:
    worker = IngestWorker(InMemoryBus(), sqlite_engine)
    msgs = [bar("AAPL", 0), BarMessage("AAPL", T0 + MIN, 10.0, 11.0, 9.0, 10.5, 1e20, source="test"),
            BarMessage("AAPL", T0 + 2 * MIN, 10.0, 11.0, 9.0, 10.5, 2.0**63, source="test")]
    worker.handle([make_delivery("market_data", str(k), encode(m)) for k, m in enumerate(msgs)])
    assert (worker.counters.inserted, worker.counters.quarantined) == (1, 2)
    reasons = sorted(r["reason"] for r in list_quarantine(sqlite_engine)["rows"])
    assert reasons == ["volume 1e+20 does not fit a 64-bit integer",
                       "volume 9.223372036854776e+18 does not fit a 64-bit integer"]
