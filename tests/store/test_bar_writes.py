"""Bar writes: the PostgreSQL free-range check, both COPY paths, and exact values on every backend."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select, text

from tftrade.store import bars as bars_repo
from tftrade.store.bar_copy import BarRows, copy_buffer
from tftrade.store.bars import insert_bar_rows, insert_bars
from tftrade.store.schema import bars

T0 = pd.Timestamp("2024-03-08 15:00", tz="UTC")  # the Friday before the US switch to summer time
MIN = pd.Timedelta(minutes=1)


def _part(ticker: str, minutes: list[int], *, shift: pd.Timedelta = pd.Timedelta(0), close: int = 1_852_345
          ) -> pd.DataFrame:
    """Validated-shape bars (integer 1/10,000 ticks) of one ticker at ``T0 + minutes``."""
    n = len(minutes)
    return pd.DataFrame({
        "ticker": [ticker] * n,
        "window_start": pd.DatetimeIndex([T0 + k * MIN + shift for k in minutes]).as_unit("us"),
        "open": np.full(n, close, dtype=np.int64), "high": np.full(n, close + 1, dtype=np.int64),
        "low": np.full(n, close - 1, dtype=np.int64), "close": np.full(n, close, dtype=np.int64),
        "volume": np.arange(n, dtype=np.int64) + 9_007_199_254_740_993,  # above 2**53: must stay exact
        "price_only": False,
    })


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM stocks_minute_candlesticks")).scalar_one())


@pytest.mark.integration
@pytest.mark.parametrize(
    ("part", "free"),
    [
        (lambda: pd.concat([_part("AAPL", list(range(10))), _part("MSFT", list(range(10, 21)))]), True),
        (lambda: _part("AAPL", list(range(11))), False),                  # ends on the first stored minute
        (lambda: _part("AAPL", list(range(20, 31))), False),              # starts on the last stored minute
        (lambda: _part("AAPL", list(range(21, 31))), True),
        (lambda: _part("AAPL", [0, 30]), False),                          # stored bars inside the range
        (lambda: _part("AAPL", [15]), False),
        (lambda: _part("AAPL", [10], shift=-pd.Timedelta(microseconds=1)), True),  # 1 µs before the first
        (lambda: _part("AAPL", [20], shift=pd.Timedelta(microseconds=1)), True),   # 1 µs after the last
        (lambda: pd.concat([_part("MSFT", list(range(40))), _part("AAPL", [5]), _part("^VIX", [12])]), True),
        (lambda: pd.concat([_part("MSFT", list(range(40))), _part("AAPL", [5, 12])]), False),
    ],
)
def test_free_range_check_finds_a_stored_key_exactly_inside_a_tickers_range(pg_engine: Engine, part, free) -> None:  # type: ignore[no-untyped-def]
    with pg_engine.begin() as conn:
        insert_bars(conn, _part("AAPL", list(range(10, 21))), "1min", "test")
    with pg_engine.connect() as conn:
        assert bars_repo._key_range_is_free(conn, part(), "1min") is free
        assert bars_repo._key_range_is_free(conn, part(), "1day") is True  # other timeframe: nothing stored


@pytest.mark.integration
def test_free_range_check_probes_the_unique_index_on_a_table_without_statistics(pg_engine: Engine) -> None:
    stored = pd.concat([_part(f"T{k:03d}", list(range(40))) for k in range(200)])
    with pg_engine.begin() as conn:
        insert_bars(conn, stored, "1min", "test")
    probe = pd.concat([_part(f"T{k:03d}", list(range(40, 50))) for k in range(200)])
    with pg_engine.connect() as conn:
        analysed = conn.execute(text("SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables "
                                     "WHERE relid = 'stocks_minute_candlesticks'::regclass")).one()
        plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + bars_repo._FREE_RANGE_SQL),
                                                      bars_repo._free_range_params(probe, "1min")))
    assert analysed == (None, None)
    assert "Index Only Scan" in plan or "Index Scan" in plan, plan
    assert "Seq Scan on stocks_minute_candlesticks" not in plan, plan


def test_insert_counts_new_rows_and_a_repeat_stores_nothing_twice(any_engine: Engine) -> None:
    first = pd.concat([_part("AAPL", list(range(10))), _part("BRK.B", list(range(5)))])
    overlap = pd.concat([_part("AAPL", list(range(5, 15))), _part("^VIX", [0, 1])])
    with any_engine.begin() as conn:
        assert insert_bars(conn, first, "1min", "test") == 15
    with any_engine.begin() as conn:  # on PostgreSQL: the range is taken, so through staging
        assert insert_bars(conn, overlap, "1min", "test") == 5 + 2
    with any_engine.begin() as conn:
        assert insert_bars(conn, pd.concat([first, overlap]), "1min", "test") == 0
    assert _count(any_engine) == 22


@pytest.mark.parametrize("path", ["direct", "staged"])
def test_copy_paths_store_exact_prices_volumes_and_times(pg_engine: Engine, path: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bars_repo, "_key_range_is_free", lambda *_: path == "direct")
    times = pd.DatetimeIndex(["1969-12-31 23:59:59.999999", "2024-03-10 06:59:00.000001", "2024-03-10 07:00",
                              "2024-11-03 05:30:00.5", "2099-12-31 23:59"], tz="UTC").as_unit("us")
    ticks = np.array([1, 99_999_999_999_999, 1_852_345, 10_000, 123_456_789], dtype=np.int64)
    part = pd.DataFrame({"ticker": ["A/B=C_:", "^VIX", "BRK.B", "X", "X"], "window_start": times,
                         "open": ticks, "high": ticks, "low": ticks, "close": ticks,
                         "volume": np.array([0, 2**63 - 1, 9_007_199_254_740_993, 1, 2], dtype=np.int64),
                         "price_only": [False, True, False, False, True]})
    with pg_engine.begin() as conn:
        assert insert_bars(conn, part, "1min", "src") == 5
    with pg_engine.connect() as conn:
        rows = conn.execute(select(bars.c.ticker, bars.c.window_start, bars.c.close, bars.c.volume,
                                   bars.c.price_only, bars.c.source).order_by(bars.c.window_start)).all()
    assert [r.ticker for r in rows] == part["ticker"].tolist()
    assert [pd.Timestamp(r.window_start) for r in rows] == list(times)
    assert [r.close for r in rows] == [Decimal(int(t)).scaleb(-4) for t in ticks]
    assert [r.volume for r in rows] == part["volume"].tolist()
    assert [r.price_only for r in rows] == part["price_only"].tolist() and {r.source for r in rows} == {"src"}


def test_insert_bar_rows_stores_exact_values_with_an_empty_source(any_engine: Engine) -> None:
    ticks = np.array([1, 99_999_999_999_999, 10_000], dtype=np.int64)
    rows = BarRows(np.array(["A", "BRK.B", "^VIX"], dtype=object),
                   np.array([-1, 0, 1_709_910_000_000_001], dtype=np.int64),
                   {c: ticks for c in ("open", "high", "low", "close")}, np.array([0, 2**63 - 1, 7]),
                   np.array([True, False, True]))
    with any_engine.begin() as conn:
        assert insert_bar_rows(conn, rows, "1min", "") == 3
        assert insert_bar_rows(conn, rows, "1min", "") == 0
    with any_engine.connect() as conn:
        got = conn.execute(select(bars.c.ticker, bars.c.window_start, bars.c.low, bars.c.volume, bars.c.price_only,
                                  bars.c.source).order_by(bars.c.window_start)).all()
    assert [(r.ticker, pd.Timestamp(r.window_start).value // 1000, r.low, r.volume, r.price_only, r.source)
            for r in got] == [("A", -1, Decimal("0.0001"), 0, True, ""),
                              ("BRK.B", 0, Decimal("9999999999.9999"), 2**63 - 1, False, ""),
                              ("^VIX", 1_709_910_000_000_001, Decimal("1.0000"), 7, True, "")]


def test_copy_buffer_refuses_a_price_beyond_numeric_18_4() -> None:
    rows = BarRows(np.array(["A"], dtype=object), np.array([0], dtype=np.int64),
                   {c: np.array([10**16], dtype=np.int64) for c in ("open", "high", "low", "close")},
                   np.array([1]), np.array([False]))
    with pytest.raises(ValueError, match="beyond NUMERIC"):
        copy_buffer(rows, "1min", "x")


@pytest.mark.integration
def test_bars_after_a_time_are_read_as_columns_with_the_values_of_read_bars(any_engine: Engine) -> None:
    prices = {"AAPL": 1_852_345, "MSFT": 4_123_457, "^VIX": 150_001}
    with any_engine.begin() as conn:
        for ticker, close in prices.items():
            insert_bars(conn, _part(ticker, list(range(5)), close=close), "1min", "test")
        insert_bars(conn, _part("AAPL", [2], close=7), "5min", "test")  # another timeframe: not read
    after = T0 + 2 * MIN
    new = bars_repo.read_bars_after(any_engine, ["aapl", "MSFT"], "1min", after.value // 1000)
    whole = bars_repo.read_bars(any_engine, ["AAPL", "MSFT"], "1min", start=after + pd.Timedelta(microseconds=1))
    got = pd.DataFrame({"ticker": new.ticker, "window_start": pd.to_datetime(new.ts_us, unit="us", utc=True),
                        **{f: getattr(new, f) for f in ("open", "high", "low", "close", "volume", "price_only")}})
    got = got.sort_values(["ticker", "window_start"], ignore_index=True)
    assert len(got) == 4 and set(got["ticker"]) == {"AAPL", "MSFT"} and got["window_start"].min() == T0 + 3 * MIN
    for col in ("open", "high", "low", "close", "volume"):  # the same floats, bit for bit
        assert got[col].to_numpy(np.float64).tobytes() == whole[col].to_numpy(np.float64).tobytes(), col
    assert (got["window_start"] == whole["window_start"]).all() and not got["price_only"].any()
    none = bars_repo.read_bars_after(any_engine, ["AAPL"], "1min", (T0 + 4 * MIN).value // 1000)
    assert none.ticker == [] and none.close.shape == (0,)
