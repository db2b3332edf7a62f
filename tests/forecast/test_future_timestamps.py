"""Predict-time bar stamps follow the NYSE calendar: session closes, half days, holidays."""

from __future__ import annotations

import pandas as pd

from tftrade.forecast.prediction import future_timestamps

NY = "America/New_York"


def _ns(text: str) -> int:
    return int(pd.Timestamp(text, tz=NY).value)


def _local(ns: object) -> list[str]:
    return [pd.Timestamp(int(t), tz="UTC").tz_convert(NY).strftime("%Y-%m-%d %H:%M") for t in ns]  # type: ignore[attr-defined]


def test_minute_bars_roll_from_the_close_to_the_next_open() -> None:
    got = _local(future_timestamps(_ns("2024-03-15 15:58"), "1min", 4))  # a Friday
    assert got == ["2024-03-15 15:59", "2024-03-18 09:30", "2024-03-18 09:31", "2024-03-18 09:32"]


def test_half_day_closes_at_one() -> None:
    got = _local(future_timestamps(_ns("2024-11-29 12:58"), "1min", 3))  # day after Thanksgiving
    assert got == ["2024-11-29 12:59", "2024-12-02 09:30", "2024-12-02 09:31"]


def test_minute_bars_skip_a_holiday() -> None:
    got = _local(future_timestamps(_ns("2024-07-03 12:59"), "1min", 2))  # half day, then 4 July
    assert got == ["2024-07-05 09:30", "2024-07-05 09:31"]


def test_daily_bars_skip_holidays_and_weekends() -> None:
    got = _local(future_timestamps(_ns("2024-12-24 00:00"), "1day", 3))
    assert got == ["2024-12-26 00:00", "2024-12-27 00:00", "2024-12-30 00:00"]
    assert _local(future_timestamps(_ns("2024-11-27 00:00"), "1day", 1)) == ["2024-11-29 00:00"]


def test_mid_session_minute_is_the_next_minute() -> None:
    assert _local(future_timestamps(_ns("2024-03-14 10:00"), "1min", 1)) == ["2024-03-14 10:01"]
