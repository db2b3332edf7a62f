"""Ingest on both backends: counts add up, re-ingest inserts nothing, a failed batch leaves nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from tftrade.core.errors import StoreError
from tftrade.data import ingest as ingest_mod
from tftrade.data.ingest import ingest_file, ingest_frame
from tftrade.store.schema import bars, ingest_runs, quarantine

CSV = """timestamp,ticker,open,high,low,close,volume
2024-01-02 09:30,AAPL,185.1234,186,184.5,185.5,1000
2024-01-02 09:31,AAPL,185.5,185.9,-1,185.7,1200
2024-01-02 09:32,AAPL,185.7,186.2,185.6,186.0,abc
2024-01-02 09:32,AAPL,185.7,186.2,185.6,186.0,abc
2024-01-02 09:33,AAPL,186.0,186.5,185.9,186.4,900
2024-01-02 09:33,AAPL,186.0,186.5,185.9,186.4,900
2024-01-02 17:00,AAPL,186.0,186.5,185.9,186.4,900
"""


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_file_ingest_counts_reasons_and_idempotence(any_engine: Engine, tmp_path: Path) -> None:
    p = tmp_path / "aapl.csv"
    p.write_text(CSV)
    first = ingest_file(any_engine, p)
    assert (first.rows_read, first.inserted, first.duplicates, first.quarantined) == (7, 2, 1, 4)
    again = ingest_file(any_engine, p)
    assert (again.inserted, again.duplicates, again.quarantined) == (0, 3, 4)
    assert _count(any_engine, bars) == 2
    assert _count(any_engine, quarantine) == 4, "re-ingest must not quarantine the same rows twice"
    with any_engine.connect() as conn:
        reasons = sorted(conn.execute(select(quarantine.c.reason)).scalars())
        price = conn.execute(select(bars.c.open).order_by(bars.c.window_start)).scalars().first()
    assert any("non-positive low" in r for r in reasons)
    assert any("unparseable volume 'abc'" in r for r in reasons)
    assert any("outside XNYS trading hours" in r for r in reasons)
    assert price == Decimal("185.1234"), "prices are stored exactly"


def test_failed_batch_leaves_no_half_batch(any_engine: Engine, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "aapl.csv"
    p.write_text(CSV)

    def boom(*_: object, **__: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_mod, "quarantine_rows", boom)  # fails after the bars were written
    with pytest.raises(StoreError, match="rolled back: RuntimeError: disk full"):
        ingest_file(any_engine, p)
    assert _count(any_engine, bars) == 0 and _count(any_engine, quarantine) == 0
    with any_engine.connect() as conn:
        assert conn.execute(select(ingest_runs.c.status)).scalars().all() == ["failed"]


_MINUTES = pd.date_range("2024-01-03 14:30", periods=30, freq="min", tz="UTC")
_row = st.fixed_dictionaries({
    "minute": st.integers(0, 29),
    "ticker": st.sampled_from(["AAA", "BBB"]),
    "open": st.sampled_from([10.0, 10.5, -1.0]),
    "close": st.sampled_from([10.0, 10.25]),
    "high_add": st.sampled_from([0.5, -1.0]),
    "volume": st.sampled_from([0.0, 100.0, -3.0]),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, max_size=25))
def test_ingest_properties(sqlite_engine: Engine, rows: list[dict[str, object]]) -> None:
    frame = pd.DataFrame({
        "ticker": [r["ticker"] for r in rows],
        "window_start": pd.DatetimeIndex([_MINUTES[r["minute"]] for r in rows], tz="UTC"),  # type: ignore[index]
        "open": [r["open"] for r in rows],
        "high": [max(r["open"], r["close"]) + r["high_add"] for r in rows],  # type: ignore[call-overload, operator]
        "low": [min(r["open"], r["close"]) for r in rows],  # type: ignore[type-var]
        "close": [r["close"] for r in rows],
        "volume": [r["volume"] for r in rows],
        "price_only": False,
    })
    before = _count(sqlite_engine, bars)
    s = ingest_frame(sqlite_engine, frame, timeframe="1min", source="prop", kind="test")
    # Rows read are all accounted for.
    assert s.rows_read == len(rows) == s.inserted + s.duplicates + s.quarantined
    # Every valid row's key is stored afterwards, unless valid rows of that bar disagree (all quarantined).
    valid = frame[(frame.open > 0) & (frame.volume >= 0) & (frame.high >= frame[["open", "close"]].max(axis=1))]
    values = valid.drop_duplicates(["ticker", "window_start", "open", "high", "low", "close", "volume"])
    valid = valid[~valid.set_index(["ticker", "window_start"]).index.isin(
        values[values.duplicated(["ticker", "window_start"])].set_index(["ticker", "window_start"]).index)]
    with sqlite_engine.connect() as conn:
        stored = {(t, pd.Timestamp(w)) for t, w in conn.execute(select(bars.c.ticker, bars.c.window_start))}
    assert {(t, w) for t, w in zip(valid.ticker, valid.window_start, strict=True)} <= stored
    assert _count(sqlite_engine, bars) == before + s.inserted
    # Idempotent: the same batch again inserts nothing.
    assert ingest_frame(sqlite_engine, frame, timeframe="1min", source="prop", kind="test").inserted == 0
