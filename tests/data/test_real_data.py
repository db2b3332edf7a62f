"""The public data sets go through the importer (run in CI; skipped in a clone without ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tftrade.data.ingest import ingest_file
from tftrade.store.bars import bar_summary, latest_bars


@pytest.mark.slow
def test_sp500_daily_loads_with_the_broken_rows_quarantined(sqlite_engine: Engine, shared_data: Path) -> None:
    s = ingest_file(sqlite_engine, shared_data / "sp500_daily" / "all_stocks_5yr.csv.gz")
    assert s.timeframe == "1day" and s.rows_read == 619_040
    assert s.inserted + s.quarantined == 619_040 and 0 < s.quarantined < 100  # the few NaN/inconsistent rows
    tickers = {r["ticker"] for r in bar_summary(sqlite_engine)}
    assert len(tickers) == 505
    aapl = latest_bars(sqlite_engine, "AAPL", "1day", 1)
    assert aapl["close"].iloc[0] == pytest.approx(159.54)  # AAPL closed at 159.54 on 2018-02-07
    assert ingest_file(sqlite_engine, shared_data / "sp500_daily" / "all_stocks_5yr.csv.gz").inserted == 0


@pytest.mark.slow
def test_dow_minute_prices_become_flagged_bars(sqlite_engine: Engine, shared_data: Path) -> None:
    s = ingest_file(sqlite_engine, shared_data / "dow_1min" / "dow9_1min_price_2006_2007_noDIS.csv.gz")
    assert s.price_only and s.timeframe == "1min" and s.rows_read == 702_000
    # The source has 390 minutes on every day; on the two half days in range (2006-07-03,
    # 2006-11-24) the 180 minutes after the 13:00 close are quarantined for 9 tickers.
    assert s.quarantined == 2 * 180 * 9 and s.inserted == 702_000 - s.quarantined
    rows = {r["ticker"]: r for r in bar_summary(sqlite_engine)}
    assert set(rows) == {"BAC", "C", "CVX", "IBM", "KO", "MCD", "MSFT", "WMT", "XOM"}
    assert all(r["price_only"] for r in rows.values())


def test_sp500_constituents_load_into_the_securities_master(sqlite_engine: Engine, shared_data: Path) -> None:
    from tftrade.data.securities_file import read_securities_file
    from tftrade.store.securities import read_securities, upsert_securities

    items = read_securities_file(shared_data / "sp500_daily" / "constituents_2018-04-02.csv")
    with sqlite_engine.begin() as conn:
        upsert_securities(conn, items)
    by_ticker = {s.ticker: s for s in read_securities(sqlite_engine)}
    # 505 constituents plus 3 former tickers of renamed companies (PCLN, HCN, CBG) under which the prices are kept
    assert len(by_ticker) == 508 and by_ticker["MMM"].sector == "Industrials"
    assert by_ticker["PCLN"].sector == by_ticker["BKNG"].sector == "Consumer Discretionary"


@pytest.mark.slow
def test_index_files_read_month_first_dates_and_flag_holiday_placeholders(sqlite_engine: Engine,
                                                                         shared_data: Path) -> None:
    gspc = ingest_file(sqlite_engine, shared_data / "index" / "arch_sp500_GSPC_daily.csv", ticker="^GSPC")
    assert (gspc.timeframe, gspc.rows_read, gspc.inserted, gspc.status) == ("1day", 5031, 5031, "ok")
    first = bar_summary(sqlite_engine)[0]
    assert first["first"].isoformat() == "1999-01-04T05:00:00+00:00"  # 1/4/1999 is 4 January (M/D/YYYY)
    assert first["last"].isoformat() == "2018-12-31T05:00:00+00:00"
    vix = ingest_file(sqlite_engine, shared_data / "index" / "arch_vix_daily.csv", ticker="^VIX",
                      column_map={"price": "vix"})
    # The file writes "." for days without a value: those rows are quarantined as missing, and at
    # 3.5 % of the file the run is suspect, not ok.
    assert vix.quarantined == 46 and vix.status == "suspect"
    assert vix.top_reason is not None and vix.top_reason["kind"] == "missing or unparseable open"
    assert "missing open ('.')" in str(vix.top_reason["example"])
