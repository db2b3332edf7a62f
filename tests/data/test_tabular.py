"""Reading bar files: header recognition, column maps, time zones, price-only files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tftrade.core.errors import DataError
from tftrade.data.tabular import read_bar_file


def _write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_common_headers_any_case_and_naive_times_read_as_new_york(tmp_path: Path) -> None:
    p = _write(tmp_path, "DateTime,Symbol,OPEN,High,low,Close,VOLUME\n2024-01-02 09:30:00,aapl,10,11,9,10.5,100\n")
    f = read_bar_file(p).frame
    assert f["ticker"].tolist() == ["AAPL"]
    assert f["window_start"].iloc[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")  # EST = UTC-5
    assert f[["open", "high", "low", "close", "volume"]].iloc[0].tolist() == [10, 11, 9, 10.5, 100]


def test_offsets_and_epoch_nanoseconds_convert_to_utc(tmp_path: Path) -> None:
    p = _write(tmp_path, "timestamp,ticker,o,h,l,c,v\n2024-07-01T09:30:00-04:00,X,1,1,1,1,1\n")
    assert read_bar_file(p).frame["window_start"].iloc[0] == pd.Timestamp("2024-07-01 13:30", tz="UTC")
    ns = pd.Timestamp("2024-07-01 13:31", tz="UTC").value
    p2 = _write(tmp_path, f"window_start,ticker,open,high,low,close,volume\n{ns},X,1,1,1,1,1\n", "poly.csv")
    assert read_bar_file(p2).frame["window_start"].iloc[0] == pd.Timestamp("2024-07-01 13:31", tz="UTC")


def test_daily_bars_are_stamped_at_new_york_midnight(tmp_path: Path) -> None:
    p = _write(tmp_path, "date,open,high,low,close,volume,Name\n2013-02-08,15.07,15.12,14.63,14.75,8407500,AAL\n")
    bf = read_bar_file(p)
    assert bf.timeframe == "1day"
    assert bf.frame["window_start"].iloc[0] == pd.Timestamp("2013-02-08 05:00", tz="UTC")


def test_price_only_file_with_minute_index_becomes_flagged_flat_bars(tmp_path: Path) -> None:
    p = _write(tmp_path, "ticker,date,minute_idx,price\nBAC,2006-06-15,0,46.83\nBAC,2006-06-15,1,46.855\n")
    bf = read_bar_file(p)
    f = bf.frame
    assert bf.price_only and f["price_only"].all()
    assert f["window_start"].tolist() == [pd.Timestamp("2006-06-15 13:30", tz="UTC"),
                                         pd.Timestamp("2006-06-15 13:31", tz="UTC")]
    assert (f["open"] == f["close"]).all() and (f["high"] == f["low"]).all() and (f["volume"] == 0).all()


def test_explicit_column_map_and_ticker_option(tmp_path: Path) -> None:
    p = _write(tmp_path, "when,px\n2024-01-02 10:00,5.5\n")
    f = read_bar_file(p, ticker="vix", column_map={"window_start": "when", "price": "px"}).frame
    assert f["ticker"].tolist() == ["VIX"] and f["close"].tolist() == [5.5]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n", "no time column"),
        ("date,foo\n2024-01-02,1\n", "no price columns"),
        ("date,close\n2024-01-02,1\n", "no ticker column"),
    ],
)
def test_unusable_files_raise_errors_naming_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_bar_file(_write(tmp_path, text))


def test_missing_file_and_bad_map_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_bar_file(tmp_path / "nope.csv")
    p = _write(tmp_path, "date,close,ticker\n2024-01-02,1,X\n")
    with pytest.raises(DataError, match="not in"):
        read_bar_file(p, column_map={"close": "Close"})
