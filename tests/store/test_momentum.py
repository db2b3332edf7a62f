"""reddit_sentiment_momentum: migration, idempotent upsert, reader filters, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, inspect, select

from tftrade.core.errors import DataError
from tftrade.store.momentum import MOMENTUM_ROW_COLUMNS, read_momentum, write_momentum
from tftrade.store.schema import reddit_sentiment_momentum


def _rows(ticker: str = "TSLA", window: str = "5min", n: int = 4, start: str = "2024-01-02 15:00") -> pd.DataFrame:
    t = pd.date_range(start, periods=n, freq="5min", tz="UTC")
    return pd.DataFrame({
        "ticker": ticker, "window": window, "window_start": t,
        "volume_z": [np.nan] + [0.5 * k for k in range(1, n)],
        "ewma_fast": np.linspace(-0.2, 0.4, n), "ewma_slow": np.linspace(0.0, 0.1, n),
        "crossover": [0, 0, 1, 0][:n] + [0] * max(0, n - 4), "burst": [False] * (n - 1) + [True],
    })


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(reddit_sentiment_momentum)).scalar_one())


def test_migration_creates_the_table_with_its_unique_key(any_engine: Engine) -> None:
    insp = inspect(any_engine)
    assert "reddit_sentiment_momentum" in insp.get_table_names()
    uniques = [tuple(u["column_names"]) for u in insp.get_unique_constraints("reddit_sentiment_momentum")]
    assert ("ticker", "window", "window_start") in uniques


def test_write_read_roundtrip_and_idempotent(any_engine: Engine) -> None:
    rows = _rows()
    assert write_momentum(any_engine, rows) == 4
    assert write_momentum(any_engine, rows) == 4
    assert _count(any_engine) == 4
    back = read_momentum(any_engine, ["TSLA"], "5min")
    assert list(back.columns) == list(MOMENTUM_ROW_COLUMNS)
    assert back["window_start"].tolist() == rows["window_start"].tolist()
    assert np.isnan(back["volume_z"].iloc[0])
    np.testing.assert_allclose(back["volume_z"].iloc[1:], rows["volume_z"].iloc[1:])
    np.testing.assert_allclose(back["ewma_fast"], rows["ewma_fast"])
    assert back["crossover"].tolist() == [0, 0, 1, 0]
    assert back["burst"].tolist() == [False, False, False, True]


def test_recomputed_rows_replace_stored_ones(any_engine: Engine) -> None:
    write_momentum(any_engine, _rows())
    changed = _rows().assign(volume_z=9.0, burst=True)
    write_momentum(any_engine, changed.iloc[2:])
    back = read_momentum(any_engine, window="5min")
    assert back["volume_z"].iloc[2:].tolist() == [9.0, 9.0]
    assert back["burst"].tolist() == [False, False, True, True]
    assert np.isnan(back["volume_z"].iloc[0]) and _count(any_engine) == 4


def test_reader_filters_tickers_window_and_time(any_engine: Engine) -> None:
    write_momentum(any_engine, pd.concat([_rows("TSLA"), _rows("NVDA"), _rows("TSLA", "1h")]))
    assert read_momentum(any_engine, ["nvda"], "5min")["ticker"].unique().tolist() == ["NVDA"]
    assert len(read_momentum(any_engine, None, "5min")) == 8
    assert len(read_momentum(any_engine, ["TSLA"], "1h")) == 4
    start, end = datetime(2024, 1, 2, 15, 5, tzinfo=UTC), datetime(2024, 1, 2, 15, 10, tzinfo=UTC)
    part = read_momentum(any_engine, ["TSLA"], "5min", start=start, end=end)
    assert part["window_start"].tolist() == [pd.Timestamp(start), pd.Timestamp(end)]
    assert read_momentum(any_engine, ["AMD"], "5min").empty


def test_bad_rows_are_rejected(sqlite_engine: Engine) -> None:
    with pytest.raises(DataError, match="lack columns"):
        write_momentum(sqlite_engine, _rows().drop(columns="burst"))
    with pytest.raises(DataError, match="crossover"):
        write_momentum(sqlite_engine, _rows().assign(crossover=2))
    with pytest.raises(DataError, match="timezone-aware"):
        write_momentum(sqlite_engine, _rows().assign(window_start=pd.date_range("2024-01-02", periods=4)))
    with pytest.raises(DataError, match="naive"):
        read_momentum(sqlite_engine, start=datetime(2024, 1, 2))
    assert write_momentum(sqlite_engine, _rows().iloc[:0]) == 0
