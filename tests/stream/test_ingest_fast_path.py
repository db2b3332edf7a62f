"""The ingest worker's columnar path stores exactly what the frame path (validate_bars + insert per row) stores.

The reference below is the path before the columnar one, written plainly: the batch's frame through
:func:`validate_bars`, each good bar inserted on its own with ``ON CONFLICT DO NOTHING``, the rejects
quarantined with their bus frames. Both run on the same batches — exact repeats, a conflicting repeat
inside a batch, bars the store already holds with the same and with other values — on SQLite and on
PostgreSQL (where the first batch goes by the direct binary ``COPY`` and the second, which holds stored
keys, through staging).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from tftrade.data.validation import validate_bars
from tftrade.live import ingest_worker
from tftrade.live.ingest_worker import BarColumns, IngestWorker
from tftrade.store import bars as bars_repo
from tftrade.store.runs import quarantine_rows
from tftrade.store.schema import bars, quarantine
from tftrade.stream.bus import Delivery, make_delivery
from tftrade.stream.memory import InMemoryBus
from tftrade.stream.messages import BarMessage, encode

T0 = int(pd.Timestamp("2024-01-02 15:00", tz="UTC").value)  # 10:00 New York
MIN = 60_000_000_000
TICKERS = [f"T{k:03d}" for k in range(300)] + ["BRK.B", "^VIX", "A"]


def _bar(ticker: str, minute: int, close: float = 10.25, volume: float = 100.0) -> BarMessage:
    return BarMessage(ticker, T0 + minute * MIN, 10.0, 11.0, 9.5, close, volume, source="test")


def _deliveries(msgs: list[BarMessage], first_id: int) -> list[Delivery]:
    return [make_delivery("market_data", f"{first_id + k}-0", encode(m)) for k, m in enumerate(msgs)]


def _batches() -> list[list[Delivery]]:
    first = [_bar(t, m, close=10.25 + 0.01 * (k % 50)) for m in range(3) for k, t in enumerate(TICKERS)]
    second = [_bar(t, m, close=10.5) for m in range(3, 6) for t in TICKERS]
    second += [
        _bar("T001", 3, close=10.5),               # exact repeat inside the batch: a duplicate
        _bar("T002", 4, close=10.75),              # same ticker and minute, other close: a conflict
        _bar("T003", 0, close=10.28),              # already stored with these values
        _bar("T004", 1, close=10.9),               # already stored with other values: the stored bar stays
        _bar("BRK.B", 2, volume=1e15),            # already stored, other volume
        _bar("T005", 3, close=10.5), _bar("T005", 3, close=10.5),  # a repeat of a repeat
    ]
    return [_deliveries(first, 1), _deliveries(second, 10_000)]


def _reference(engine: Engine, batch: list[Delivery]) -> tuple[int, int, int]:
    """validate_bars on the batch's frame, then one INSERT … ON CONFLICT DO NOTHING per good bar."""
    msgs = [d.message for d in batch]
    assert all(isinstance(m, BarMessage) for m in msgs)
    checked = validate_bars(BarColumns.of(msgs).frames()[("1min", "test")], "1min")  # type: ignore[arg-type]
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    inserted = 0
    with engine.begin() as conn:
        for r in checked.good.itertuples(index=False):
            row = {"ticker": r.ticker, "timeframe": "1min", "window_start": r.window_start.to_pydatetime(),
                   **{c: Decimal(int(getattr(r, c))).scaleb(-4) for c in ("open", "high", "low", "close")},
                   "volume": int(r.volume), "price_only": bool(r.price_only), "source": "test"}
            stmt = dialect.insert(bars).values(row).on_conflict_do_nothing(
                index_elements=["ticker", "timeframe", "window_start"]).returning(bars.c.ticker)
            inserted += len(conn.execute(stmt).all())
        rejects = checked.rejects.assign(
            raw=[batch[int(k)].raw.decode() for k in checked.rejects["row_number"]], row_number=None)
        quarantine_rows(conn, "bus:market_data", rejects)
    return inserted, checked.duplicates + len(checked.good) - inserted, len(checked.rejects)


def _snapshot(engine: Engine) -> tuple[list[Any], list[Any]]:
    cols = [bars.c[c] for c in ("ticker", "timeframe", "window_start", "open", "high", "low", "close", "volume",
                                "price_only", "source")]
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(select(*cols).order_by(bars.c.ticker, bars.c.window_start))]
        parked = sorted(tuple(r) for r in conn.execute(select(quarantine.c.source, quarantine.c.row_number,
                                                              quarantine.c.raw, quarantine.c.reason)))
    return stored, parked


def test_the_columnar_path_stores_what_the_frame_path_stores(any_engine: Engine,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    batches = _batches()
    expected_counts = [_reference(any_engine, b) for b in batches]
    expected = _snapshot(any_engine)
    with any_engine.begin() as conn:
        conn.execute(delete(bars))
        conn.execute(delete(quarantine))

    def no_frames(*_: object, **__: object) -> None:
        raise AssertionError("a batch whose rows all pass the field checks must not need validate_bars")
    monkeypatch.setattr(ingest_worker, "validate_bars", no_frames)
    copies: list[str] = []
    real_copy = bars_repo._copy
    monkeypatch.setattr(bars_repo, "_copy", lambda conn, table, buf: copies.append(table) or real_copy(conn, table,
                                                                                                      buf))
    worker = IngestWorker(InMemoryBus(), any_engine)
    counts = []
    for b in batches:
        before = (worker.counters.inserted, worker.counters.duplicates, worker.counters.quarantined)
        worker.handle(b)
        c = worker.counters
        counts.append((c.inserted - before[0], c.duplicates - before[1], c.quarantined - before[2]))

    assert counts == expected_counts
    assert counts[1] == (3 * len(TICKERS), 3 + 3, 1)  # 3 exact repeats + 3 stored keys; 1 conflict
    got = _snapshot(any_engine)
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert len(got[0]) == 6 * len(TICKERS)
    assert [r[3] for r in got[1]] == ["conflicts with an earlier row for the same ticker and time"]
    if any_engine.dialect.name == "postgresql":
        # the first batch by the direct COPY; the second tries it, stops at a stored key, goes through staging
        assert copies == ["stocks_minute_candlesticks", "stocks_minute_candlesticks", "_bars_staging"]


def test_a_batch_with_a_bad_row_takes_the_frame_path_and_keeps_its_good_rows(sqlite_engine: Engine) -> None:
    msgs = [_bar("T001", 0), _bar("T002", 0), BarMessage("T003", T0, 10.0, 9.0, 9.5, 10.25, 5.0, source="test"),
            _bar("T001", 0)]
    worker = IngestWorker(InMemoryBus(), sqlite_engine)
    worker.handle(_deliveries(msgs, 1))
    c = worker.counters
    assert (c.inserted, c.duplicates, c.quarantined) == (2, 1, 1)
    assert "high 9.0 below max(open, close) 10.25" in _snapshot(sqlite_engine)[1][0][3]
