"""Reading real-world bar files: zones and offsets, timeframes, dialects, dates, values, broken files (#13 §1)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tftrade.core.errors import DataError
from tftrade.data.csv_dialect import CsvFormat
from tftrade.data.tabular import ReadOptions, read_bar_file
from tftrade.data.timeframes import check_daily_spacing, detect_spacing
from tftrade.data.validation import validate_bars

HEADER = "timestamp,ticker,open,high,low,close,volume\n"


def _write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _rows(times: list[str], ticker: str = "AAPL", sep: str = ",") -> str:
    return "".join(f"{t}{sep}{ticker}{sep}10{sep}11{sep}9{sep}10.5{sep}100\n" for t in times)


def _session_minutes(day: str, n: int, step: int = 1, start: str = "09:30") -> pd.DatetimeIndex:
    return pd.date_range(f"{day} {start}", periods=n, freq=f"{step}min", tz="America/New_York")


# --- time zones and offsets ---------------------------------------------------------------------------------

def test_naive_times_are_read_in_the_zone_given(tmp_path: Path) -> None:
    p = _write(tmp_path, HEADER + _rows(["2024-01-02 14:30:00", "2024-01-02 14:31:00"]))
    utc = read_bar_file(p, options=ReadOptions(tz="UTC")).frame["window_start"]
    assert utc.tolist() == [pd.Timestamp("2024-01-02 14:30", tz="UTC"), pd.Timestamp("2024-01-02 14:31", tz="UTC")]
    ny = read_bar_file(p).frame["window_start"]  # the default zone stays New York
    assert ny.iloc[0] == pd.Timestamp("2024-01-02 19:30", tz="UTC")


def test_unknown_zone_is_refused_with_examples() -> None:
    with pytest.raises(ValueError, match="time zone 'Mars/Olympus' is unknown"):
        ReadOptions(tz="Mars/Olympus")


def test_offsets_are_per_row_across_a_dst_switch(tmp_path: Path) -> None:
    # 2024-03-10 is the US spring-forward date: -05:00 before it, -04:00 after.
    p = _write(tmp_path, HEADER + _rows(["2024-03-08T09:30:00-05:00", "2024-03-11T09:30:00-04:00",
                                          "2024-03-11 09:31"]))
    f = read_bar_file(p).frame
    assert f["window_start"].tolist() == [pd.Timestamp("2024-03-08 14:30", tz="UTC"),
                                         pd.Timestamp("2024-03-11 13:30", tz="UTC"),
                                         pd.Timestamp("2024-03-11 13:31", tz="UTC")]
    assert len(validate_bars(f, "1min").good) == 3


def test_local_times_that_do_not_exist_or_repeat_get_a_reason(tmp_path: Path) -> None:
    p = _write(tmp_path, "date,ticker,open,high,low,close,volume\n" + _rows(
        ["2024-03-08 10:00", "2024-03-10 02:30", "2024-11-03 01:30"]))
    f = read_bar_file(p).frame
    reasons = validate_bars(f, "1min", "extended").rejects["reason"].tolist()
    assert any("2024-03-10 02:30 does not exist in America/New_York" in r for r in reasons)
    assert any("2024-11-03 01:30 happens twice" in r for r in reasons)


_ZONES = st.sampled_from(["UTC", "America/New_York", "Europe/London", "Asia/Tokyo", "America/Los_Angeles"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(zone=_ZONES, day=st.integers(0, 700), minute=st.integers(0, 389), with_offset=st.booleans())
def test_any_zone_naive_or_with_offsets_reads_back_the_same_instant(tmp_path: Path, zone: str, day: int,
                                                                    minute: int, with_offset: bool) -> None:
    instant = (pd.Timestamp("2023-01-02 09:30", tz="America/New_York") + pd.Timedelta(days=day, minutes=minute))
    local = instant.tz_convert(zone)
    text = local.isoformat() if with_offset else local.strftime("%Y-%m-%d %H:%M:%S")
    p = _write(tmp_path, HEADER + _rows([text]), f"z{day}_{minute}.csv")
    got = read_bar_file(p, timeframe="1min", options=ReadOptions(tz=zone)).frame["window_start"].iloc[0]
    if pd.isna(got):  # a wall time repeated in that zone is not guessed
        assert not with_offset
        return
    assert got == instant.tz_convert("UTC")


# --- timeframes -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("step", "timeframe"), [(1, "1min"), (5, "5min"), (15, "15min"), (30, "30min"),
                                                 (60, "1h")])
def test_bar_spacing_is_detected(tmp_path: Path, step: int, timeframe: str) -> None:
    times = _session_minutes("2024-01-03", 390 // step, step)
    p = _write(tmp_path, HEADER + _rows([t.isoformat() for t in times]))
    bf = read_bar_file(p)
    assert bf.timeframe == timeframe
    r = validate_bars(bf.frame, bf.timeframe)
    assert len(r.rejects) == 0 and len(r.good) == len(times)


def test_daily_bars_with_utc_midnight_stamps_keep_their_date(tmp_path: Path) -> None:
    p = _write(tmp_path, "date,open,high,low,close,volume\n"
               "2024-01-02 00:00:00+00:00,1,2,0.5,1.5,10\n2024-01-03 00:00:00+00:00,1,2,0.5,1.5,10\n")
    bf = read_bar_file(p, ticker="X")
    assert bf.timeframe == "1day"
    assert bf.frame["window_start"].iloc[0] == pd.Timestamp("2024-01-02", tz="America/New_York")


@pytest.mark.parametrize(("step", "given", "seen"), [(5, "1min", "5min"), (1, "1day", "1min"), (1, "5min", "1min"),
                                                     (60, "30min", "1h")])
def test_a_timeframe_that_contradicts_the_spacing_is_refused(tmp_path: Path, step: int, given: str,
                                                             seen: str) -> None:
    times = _session_minutes("2024-01-03", 6, step)
    p = _write(tmp_path, HEADER + _rows([t.isoformat() for t in times]))
    with pytest.raises(DataError, match=f"bars are {seen} apart but --timeframe {given} was given"):
        read_bar_file(p, timeframe=given)  # type: ignore[arg-type]


def test_a_spacing_that_is_no_timeframe_is_refused(tmp_path: Path) -> None:
    p = _write(tmp_path, HEADER + _rows([t.isoformat() for t in _session_minutes("2024-01-03", 10, 7)]))
    with pytest.raises(DataError, match="7 minutes apart, which is not a supported timeframe"):
        read_bar_file(p)


def test_seconds_inside_minute_bars_and_off_grid_bars_are_quarantined(tmp_path: Path) -> None:
    p = _write(tmp_path, HEADER + _rows(["2024-01-03 09:30:00", "2024-01-03 09:31:00", "2024-01-03 09:32:15",
                                          "2024-01-03 09:33:00.5"]))
    r = validate_bars(read_bar_file(p).frame, "1min")
    assert len(r.good) == 2
    assert r.rejects["reason"].tolist() == ["time 09:32:15 has seconds inside a 1min bar",
                                            "time 09:33:00.5 has seconds inside a 1min bar"]
    p5 = _write(tmp_path, HEADER + _rows(["2024-01-03 09:30", "2024-01-03 09:35", "2024-01-03 09:37",
                                           "2024-01-03 09:40"]), "five.csv")
    r5 = validate_bars(read_bar_file(p5).frame, "5min")
    assert r5.rejects["reason"].tolist() == ["time 09:37 is not on a 5min boundary"]


def test_extended_session_keeps_pre_and_after_market_bars(tmp_path: Path) -> None:
    times = ["2024-01-03 04:00", "2024-01-03 08:15", "2024-01-03 10:00", "2024-01-03 17:59", "2024-01-03 19:59",
             "2024-01-03 20:00", "2024-01-03 03:59"]
    f = read_bar_file(_write(tmp_path, HEADER + _rows(times)), timeframe="1min").frame
    regular = validate_bars(f, "1min", "regular")
    extended = validate_bars(f, "1min", "extended")
    assert len(regular.good) == 1
    assert len(extended.good) == 5
    assert all("outside XNYS extended hours" in r for r in extended.rejects["reason"])


# --- dialects -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_delimiters_are_sniffed_or_given(tmp_path: Path, sep: str) -> None:
    text = HEADER.replace(",", sep) + _rows(["2024-01-03 10:00", "2024-01-03 10:01"], sep=sep)
    p = _write(tmp_path, text)
    assert read_bar_file(p).frame["close"].tolist() == [10.5, 10.5]
    given = read_bar_file(p, options=ReadOptions(csv=CsvFormat(delimiter=sep))).frame
    assert given["ticker"].tolist() == ["AAPL", "AAPL"]


def test_no_header_with_named_columns(tmp_path: Path) -> None:
    p = _write(tmp_path, _rows(["2024-01-03 10:00", "2024-01-03 10:01"]))
    cols = ("timestamp", "ticker", "open", "high", "low", "close", "volume")
    f = read_bar_file(p, options=ReadOptions(csv=CsvFormat(header=False, columns=cols))).frame
    assert len(f) == 2 and f["raw_row"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="needs its column names"):
        CsvFormat(header=False)


def test_yfinance_three_row_header(tmp_path: Path) -> None:
    text = ("Price,Close,High,Low,Open,Volume\nTicker,SPY,SPY,SPY,SPY,SPY\nDate,,,,,\n"
            "2024-01-02,472.65,473.67,470.49,472.16,123623700\n2024-01-03,468.79,471.19,468.17,470.43,103585900\n")
    bf = read_bar_file(_write(tmp_path, text))
    f = bf.frame
    assert bf.timeframe == "1day" and f["ticker"].tolist() == ["SPY", "SPY"]
    assert f["close"].tolist() == [472.65, 468.79] and f["open"].tolist() == [472.16, 470.43]
    assert f["raw_row"].tolist() == [4, 5]


def test_thousands_separators_and_decimal_commas(tmp_path: Path) -> None:
    text = HEADER + '2024-01-03 10:00,BRK.A,"1,234.50","1,240.00","1,230.25","1,238.75","1,234,567"\n'
    f = read_bar_file(_write(tmp_path, text)).frame
    assert f[["open", "high", "low", "close", "volume"]].iloc[0].tolist() == [1234.5, 1240.0, 1230.25, 1238.75,
                                                                              1234567.0]
    euro = "Date;Ticker;Open;High;Low;Close;Volume\n13/03/2024 10:00;SAP;1.234,5;1.240;1.230,25;1.238,75;4.181\n"
    g = read_bar_file(_write(tmp_path, euro, "euro.csv")).frame
    assert g[["open", "high", "low", "close", "volume"]].iloc[0].tolist() == [1234.5, 1240.0, 1230.25, 1238.75,
                                                                              4181.0]


# --- day/month order ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("dates", "first"), [
    (["31/12/2024", "03/04/2024"], pd.Timestamp("2024-12-31")),  # 31 proves day first: 03/04 is 3 April
    (["12/31/2024", "03/04/2024"], pd.Timestamp("2024-12-31")),  # 31 proves month first: 03/04 is March 4
])
def test_day_month_order_is_one_for_the_whole_file(tmp_path: Path, dates: list[str], first: pd.Timestamp) -> None:
    p = _write(tmp_path, "date,open,high,low,close,volume\n" + "".join(f"{d},1,2,0.5,1.5,10\n" for d in dates))
    days = read_bar_file(p, ticker="X").frame["window_start"].dt.tz_convert("America/New_York").dt.date
    second = pd.Timestamp("2024-04-03") if first.month == 12 and dates[0].startswith("31") else \
        pd.Timestamp("2024-03-04")
    assert days.tolist() == [first.date(), second.date()]


def test_ambiguous_or_contradictory_day_month_order_is_refused(tmp_path: Path) -> None:
    header = "date,open,high,low,close,volume\n"
    amb = _write(tmp_path, header + "03/04/2024,1,2,0.5,1.5,10\n", "amb.csv")
    with pytest.raises(DataError, match=r"day/month order cannot be told: '03/04/2024'.*--date-order"):
        read_bar_file(amb, ticker="X")
    given = read_bar_file(amb, ticker="X", options=ReadOptions(date_order="dmy")).frame["window_start"]
    assert given.dt.tz_convert("America/New_York").dt.month.tolist() == [4]
    both = _write(tmp_path, header + "31/12/2024,1,2,0.5,1.5,10\n12/31/2024,1,2,0.5,1.5,10\n", "both.csv")
    with pytest.raises(DataError, match="both day/month order"):
        read_bar_file(both, ticker="X")


# --- values ---------------------------------------------------------------------------------------------------

def test_values_that_do_not_fit_their_column_are_quarantined_with_the_reason(tmp_path: Path) -> None:
    text = HEADER + _rows(["2024-01-03 10:00"]) + (
        "2024-01-03 10:01,AAPL,10,11,9,10.5,9223372036854775808\n"  # 2**63
        "2024-01-03 10:02,PENNY,0.00004,0.00004,0.00004,0.00004,5\n"
        "2024-01-03 10:03,PENNY,0.00012,0.00012,0.00012,0.00012,5\n"
        "2024-01-03 10:04,AAPL,10,11,9,10.5,1e30\n"
        "2024-01-03 10:05,AAPL,inf,inf,9,10.5,1\n"
        "2024-01-03 10:06,AAPL,10,11,9,10.5,9007199254740993\n"  # 2**53 + 1: exact as an integer only
    )
    r = validate_bars(read_bar_file(_write(tmp_path, text)).frame, "1min")
    reasons = r.rejects["reason"].tolist()
    assert "volume 9223372036854775808 does not fit a 64-bit integer" in reasons
    assert any("open 4e-05 would be stored as 0.0000" in x for x in reasons)
    assert any("open 0.00012 would be stored as 0.0001" in x for x in reasons)
    assert any("does not fit a 64-bit integer" in x and "1e30" in x for x in reasons)
    assert any("open too large" in x for x in reasons)
    assert sorted(r.good["volume"].tolist()) == [100, 9007199254740993]


def test_prices_rounding_within_a_basis_point_are_kept(tmp_path: Path) -> None:
    text = HEADER + "2024-01-03 10:00,^GSPC,1229.22998,1248.810059,1219.099976,1228.099976,877000000\n"
    r = validate_bars(read_bar_file(_write(tmp_path, text)).frame, "1min")
    assert len(r.good) == 1 and r.good["open"].tolist() == [12292300]


# --- broken files ---------------------------------------------------------------------------------------------

def test_truncated_gzip_is_one_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "bars.csv.gz"
    whole = gzip.compress((HEADER + _rows(["2024-01-03 10:00"] * 500)).encode())
    p.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="compressed file is truncated"):
        read_bar_file(p)


def test_a_ragged_line_is_quarantined_alone(tmp_path: Path) -> None:
    text = HEADER + _rows(["2024-01-03 10:00"]) + "2024-01-03 10:01,AAPL,10,11,9\n" + \
        '2024-01-03 10:02,AAPL,10,11,9,10.5,100,extra\n' + _rows(["2024-01-03 10:03"])
    bf = read_bar_file(_write(tmp_path, text))
    assert len(bf.frame) == 2 and bf.frame["raw_row"].tolist() == [2, 5]
    assert bf.ragged["row_number"].tolist() == [3, 4]
    assert bf.ragged["reason"].tolist() == ["row has 5 fields, the header has 7", "row has 8 fields, the header has 7"]
    quoted = _write(tmp_path, text.replace("AAPL,10,11,9\n", '"AAPL",10,11,9\n'), "quoted.csv")  # the csv-module path
    assert read_bar_file(quoted).ragged["row_number"].tolist() == [3, 4]


@pytest.mark.parametrize("ticker", ["AA\x00PL", "AA\u200bPL", "\u202eLPAA", "AAPL\u200f", "ÄPFEL", "AA PL"])
def test_control_invisible_and_right_to_left_characters_are_no_tickers(tmp_path: Path, ticker: str) -> None:
    p = tmp_path / "t.csv"
    p.write_bytes((HEADER + _rows(["2024-01-03 10:00"]) + _rows(["2024-01-03 10:01"], ticker=ticker)).encode())
    r = validate_bars(read_bar_file(p).frame, "1min")
    assert len(r.good) == 1 and r.good["ticker"].tolist() == ["AAPL"]
    reason = r.rejects["reason"].iloc[0]
    assert "is not a ticker" in reason and reason.isprintable() and reason.isascii()


def test_bar_file_frame_is_unchanged_for_plain_files(tmp_path: Path) -> None:
    p = _write(tmp_path, HEADER + _rows(["2024-01-03 10:00", "2024-01-03 10:01"]))
    f = read_bar_file(p).frame
    assert np.array_equal(f["volume_exact"].to_numpy(), [100, 100])
    assert (f["time_error"] == "").all() and (f["value_error"] == "").all()


def test_binary_files_and_huge_fields(tmp_path: Path) -> None:
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\x7fELF\x02\x01" + bytes(range(32)) * 40)
    with pytest.raises(DataError, match="looks like a binary file"):
        read_bar_file(binary)
    huge = _write(tmp_path, HEADER + '"' + "x" * 200_000 + '",AAPL,10,11,9,10.5,100\n' + _rows(["2024-01-03 10:00"]),
                  "huge.csv")
    f = read_bar_file(huge, timeframe="1min").frame
    r = validate_bars(f, "1min")
    assert len(r.good) == 1 and r.rejects["reason"].iloc[0].startswith("unparseable time 'xxx")
    assert len(r.rejects["reason"].iloc[0]) < 100, "a reason quotes a value, not a whole field"


def test_daily_epoch_stamps_at_new_york_midnight_across_dst(tmp_path: Path) -> None:
    days = pd.DatetimeIndex(["2024-03-08", "2024-03-11", "2024-03-12"]).tz_localize("America/New_York")
    ms = [d.value // 10**6 for d in days]  # 05:00 UTC before the switch, 04:00 UTC after it
    p = _write(tmp_path, "t,o,h,l,c,v\n" + "".join(f"{m},1,2,0.5,1.5,10\n" for m in ms))
    bf = read_bar_file(p, ticker="X")
    assert bf.timeframe == "1day"
    assert bf.frame["window_start"].tolist() == list(days.tz_convert("UTC"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(days=st.lists(st.integers(0, 3000), min_size=1, max_size=12), day_first=st.booleans(),
       sep=st.sampled_from(["/", ".", "-"]))
def test_numeric_dates_read_back_in_the_order_the_file_proves(tmp_path: Path, days: list[int], day_first: bool,
                                                              sep: str) -> None:
    dates = [pd.Timestamp("2015-01-13") + pd.Timedelta(days=d) for d in days]
    dates.append(pd.Timestamp("2015-01-13"))  # day 13 proves the order
    fmt = f"%d{sep}%m{sep}%Y" if day_first else f"%m{sep}%d{sep}%Y"
    p = _write(tmp_path, "date,open,high,low,close,volume\n" + "".join(f"{d.strftime(fmt)},1,2,0.5,1.5,10\n"
                                                                        for d in dates), f"d{len(days)}.csv")
    got = read_bar_file(p, ticker="X", timeframe="1day").frame["window_start"]
    assert list(got.dt.tz_convert("America/New_York").dt.date) == [d.date() for d in dates]


def test_yfinance_file_of_several_tickers_becomes_one_row_per_ticker(tmp_path: Path) -> None:
    text = ("Price,Close,Close,High,High,Low,Low,Open,Open,Volume,Volume\n"
            "Ticker,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT\nDate,,,,,,,,,,\n"
            "2024-01-02,185.6,370.9,188.4,375.9,183.9,366.5,187.2,373.9,82488700,25258600\n"
            "2024-01-03,184.3,370.6,185.9,373.3,183.4,368.5,184.2,369.0,58414500,23083500\n")
    f = read_bar_file(_write(tmp_path, text), ticker="WRONG").frame
    by = f.set_index(["ticker", f["window_start"].dt.tz_convert("America/New_York").dt.day])
    assert by.loc[("AAPL", 2), ["open", "high", "low", "close", "volume"]].tolist() == [187.2, 188.4, 183.9, 185.6,
                                                                                     82488700.0]
    assert by.loc[("MSFT", 3), "close"] == 370.6 and len(f) == 4


@pytest.mark.parametrize("bad", ["9999-12-31", "0001-02-06", "2300-01-01", "Feb 6", "10:30", "10:30:00"])
def test_times_out_of_range_or_without_a_date_are_quarantined_alone(tmp_path: Path, bad: str) -> None:
    # a year pandas cannot hold failed the whole file with a bare pandas error; a time without a date
    # (or a date without a year) was read as today / year 1
    p = _write(tmp_path, "date,ticker,open,high,low,close,volume\n"
               + _rows(["2024-02-01", bad, "2024-02-05", "2024-02-06"]))
    f = read_bar_file(p).frame
    out = validate_bars(f, "1day")
    assert len(out.good) == 3
    assert out.rejects["reason"].str.contains(bad, regex=False).all()


def test_an_epoch_beyond_the_years_is_quarantined_alone_and_a_negative_one_keeps_the_column_epochs(
        tmp_path: Path) -> None:
    start = 1704205800  # 2024-01-02 14:30 UTC, 09:30 New York
    p = _write(tmp_path, HEADER + _rows([str(start + 60 * i) for i in range(4)] + ["99999999999", "-1704205860"]))
    out = validate_bars(read_bar_file(p, timeframe="1min").frame, "1min")
    assert len(out.good) == 4
    reasons = out.rejects["reason"].tolist()
    assert any("epoch time outside the years 1900-2199 (99999999999 read as s)" in r for r in reasons)
    assert any("1915-12-31" in r for r in reasons)  # a negative epoch is a time before 1970, not text


def test_parquet_unsigned_volumes_beyond_int64_are_quarantined_not_wrapped(tmp_path: Path) -> None:
    # a uint64 column was cast to int64 as it was: 2**63 stored as -9223372036854775808, 2**64-1 as -1
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-02 14:30", periods=4, freq="1min", tz="UTC"),
                          "ticker": "PQ", "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5,
                          "volume": np.array([100, 2**63, 2**64 - 1, 2**63 - 1], dtype=np.uint64)})
    p = tmp_path / "bars.parquet"
    frame.to_parquet(p)
    out = validate_bars(read_bar_file(p, timeframe="1min").frame, "1min")
    assert sorted(out.good["volume"].tolist()) == [100, 2**63 - 1]
    assert sorted(out.rejects["reason"].tolist()) == ["volume 18446744073709551615 does not fit a 64-bit integer",
                                                      "volume 9223372036854775808 does not fit a 64-bit integer"]


def test_separate_date_and_time_columns_are_read_as_one_time(tmp_path: Path) -> None:
    # Date,Time files (common vendor exports) were read from the date alone: every minute of a day was one
    # daily bar, the 09:30 bar stored as the day and the rest quarantined as repeats
    times = _session_minutes("2024-03-11", 5)
    text = "Date,Time,Open,High,Low,Close,Volume\n" + "".join(
        f"{t:%m/%d/%Y},{t:%H:%M},10,11,9,10.5,100\n" for t in times)
    bf = read_bar_file(_write(tmp_path, text), ticker="X", options=ReadOptions(date_order="mdy"))
    assert bf.timeframe == "1min"
    assert bf.frame["window_start"].tolist() == list(times.tz_convert("UTC"))


def test_a_header_naming_one_field_twice_is_refused(tmp_path: Path) -> None:
    # the second 'close' was renamed 'close.1' and silently ignored
    text = "date,ticker,close,open,high,low,Close,volume\n2024-01-02,X,1,10,11,9,10.5,100\n"
    with pytest.raises(DataError, match=r"2 columns could be 'close' \('close', 'Close'\).*--map close="):
        read_bar_file(_write(tmp_path, text))
    f = read_bar_file(_write(tmp_path, text), column_map={"close": "Close"}).frame
    assert f["close"].tolist() == [10.5]


@pytest.mark.parametrize("ticker", ["^ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOPQ"])
def test_tickers_longer_than_the_column_are_quarantined_saying_so(tmp_path: Path, ticker: str) -> None:
    # '^' + 16 characters passed the check and failed the whole file on PostgreSQL (VARCHAR(16))
    p = _write(tmp_path, HEADER + _rows(["2024-01-03 10:00"]) + _rows(["2024-01-03 10:01"], ticker=ticker))
    r = validate_bars(read_bar_file(p).frame, "1min")
    assert r.good["ticker"].tolist() == ["AAPL"]
    assert r.rejects["reason"].tolist() == [f"ticker '{ticker}' is longer than 16 characters"]
    sixteen = _write(tmp_path, HEADER + _rows(["2024-01-03 10:00"], ticker="^ABCDEFGHIJKLMNO"), "ok.csv")
    assert len(validate_bars(read_bar_file(sixteen).frame, "1min").good) == 1


def test_parquet_nulls_and_times_beyond_the_years_are_quarantined_per_row(tmp_path: Path) -> None:
    # a null price failed the whole run ("TypeError: 'float' object is not subscriptable"); a timestamp of
    # year 9999 failed the file ("Out of bounds nanosecond timestamp")
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    times = [dt.datetime(2024, 1, 2, 14, 30 + k) for k in range(4)] + [dt.datetime(9999, 1, 2, 9, 32)]
    for tz in (None, "UTC"):
        table = pa.table({"timestamp": pa.array(times, type=pa.timestamp("us", tz=tz)),
                          "ticker": ["PQ", None, "PQ", "PQ", "PQ"],
                          "open": [10.0, 10.0, None, 10.0, 10.0], "high": [11.0] * 5, "low": [9.0] * 5,
                          "close": [10.5] * 5, "volume": pa.array([1, 2, 3, None, 5], type=pa.int64())})
        p = tmp_path / f"n{tz}.parquet"
        pq.write_table(table, p)
        out = validate_bars(read_bar_file(p, timeframe="1min", options=ReadOptions(tz="UTC")).frame, "1min")
        assert len(out.good) == 1
        reasons = " | ".join(sorted(out.rejects["reason"]))
        assert "ticker missing" in reasons and "missing open" in reasons and "missing volume" in reasons
        assert "outside the years 1900-2199" in reasons, reasons


@pytest.mark.parametrize(("freq", "days"), [("W-FRI", 7), ("BMS", 31)])
def test_weekly_or_monthly_bars_are_refused_not_stored_as_days(tmp_path: Path, freq: str, days: int) -> None:
    # a weekly or monthly file was read as 1day: each week's or month's bar stored as one day's bar
    dates = pd.date_range("2023-01-02", periods=30, freq=freq)
    p = _write(tmp_path, "date,ticker,open,high,low,close,volume\n" + "".join(
        f"{d:%Y-%m-%d},X,10,11,9,10.5,100\n" for d in dates))
    with pytest.raises(DataError, match=r"bars are (about )?\d+ days apart.*not a supported timeframe"):
        read_bar_file(p)
    gappy = pd.bdate_range("2023-01-02", periods=60).delete(list(range(5, 60, 4)))  # daily, some days missing
    q = _write(tmp_path, "date,ticker,open,high,low,close,volume\n" + "".join(
        f"{d:%Y-%m-%d},X,10,11,9,10.5,100\n" for d in gappy), "daily.csv")
    assert read_bar_file(q).timeframe == "1day"


def test_bar_gaps_are_taken_within_each_ticker_whatever_the_row_order() -> None:
    # two weekly tickers on different weekdays: pooled, their dates would be 2 and 5 days apart
    mondays = pd.date_range("2023-01-02", periods=8, freq="W-MON", tz="UTC")
    weekly = pd.Series(np.concatenate([mondays, mondays + pd.Timedelta(days=2)])[::-1])
    with pytest.raises(DataError, match="bars are about 7 days apart"):
        check_daily_spacing(pd.Series(["A"] * 8 + ["B"] * 8), weekly)
    # 5-minute bars of two tickers, shuffled, one bar repeated, one time and one ticker missing
    five = _session_minutes("2024-01-03", 12, 5).tz_convert("UTC")
    utc = pd.Series(np.concatenate([five, five + pd.Timedelta(minutes=1), five[:1], [pd.NaT]]))
    tickers = pd.Series(["A"] * 12 + ["B"] * 12 + ["A", None])
    order = np.random.default_rng(0).permutation(len(utc))
    got = detect_spacing(tickers[order].reset_index(drop=True), utc[order].reset_index(drop=True), False)
    assert got == ("5min", "5min")


@pytest.mark.parametrize("bad", ["2024-01-03 14:30 UTC+1", "2024-01-03 10:30 GMT-5", "Wed Jan  3 15:30:00 UTC 2024",
                                 "2024-01-03 10:30:00 EST", "2024-01-03 16:30:00 CET"])
def test_zones_written_as_names_are_quarantined_not_read_as_local_times(tmp_path: Path, bad: str) -> None:
    # the lenient pass read 'UTC+1' / 'GMT-5' / Unix date's 'UTC' as zoned, then dropped the zone and took the
    # wall time as New York time (hours off, silently)
    p = _write(tmp_path, HEADER + _rows(["2024-01-03 10:00", bad, "2024-01-03 10:02"]))
    r = validate_bars(read_bar_file(p, timeframe="1min").frame, "1min")
    assert len(r.good) == 2
    assert r.rejects["reason"].tolist() == [f"time '{bad}' names its zone in a form that is not read; write an "
                                            "offset such as -05:00, or naive times with --tz"]


def test_hour_only_offsets_and_rows_of_mixed_zone_forms_do_not_fail_the_file(tmp_path: Path) -> None:
    # '+01' (ISO 8601 hour-only offsets) crashed the reader ('Cannot use .astype ... timezone-aware'); a column
    # whose lenient rows carry different zones crashed it with 'Mixed timezones detected'
    p = _write(tmp_path, HEADER + _rows(["2024-01-03 16:00+01", "2024-01-03 10:01-05", "2024-01-03T15:02:00Z"]))
    f = read_bar_file(p, timeframe="1min").frame
    assert f["window_start"].tolist() == [pd.Timestamp("2024-01-03 15:00", tz="UTC"),
                                         pd.Timestamp("2024-01-03 15:01", tz="UTC"),
                                         pd.Timestamp("2024-01-03 15:02", tz="UTC")]
    q = _write(tmp_path, HEADER + _rows(["2024-01-03 10:00", "2024-01-03 14:30 UTC+1", "Wed 03 Jan 2024 10:02:00",
                                         "2024-01-03 14:30 GMT+2"]), "mixed.csv")
    r = validate_bars(read_bar_file(q, timeframe="1min").frame, "1min")
    assert len(r.good) == 2 and r.rejects["reason"].str.contains("names its zone").all()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_files_with_a_byte_order_mark_are_read(tmp_path: Path, encoding: str) -> None:
    # Excel's "Unicode text" export (UTF-16 with a BOM, tab-separated) was refused as a binary file
    text = HEADER.replace(",", "\t") + _rows(["2024-01-03 10:00", "2024-01-03 10:01"], sep="\t")
    p = tmp_path / "u16.txt"
    p.write_bytes((b"" if encoding == "utf-16" else "\ufeff".encode(encoding)) + text.encode(encoding))
    assert read_bar_file(p).frame["close"].tolist() == [10.5, 10.5]
