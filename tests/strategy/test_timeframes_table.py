"""One table of bar lengths and bars per session drives annualisation, ADV, the bar grid and calendar inputs."""

from __future__ import annotations

from datetime import date
from typing import get_args

import numpy as np
import pandas as pd
import pytest

from tftrade.backtest.config import stop_rule
from tftrade.core.calendar import TradingCalendar
from tftrade.core.config import StopSettings
from tftrade.core.timeframes import (
    TIMEFRAME_TABLE,
    bar_minutes,
    bar_starts_ns,
    bars_per_session,
    grid_phase,
    periods_per_year,
)
from tftrade.core.types import TIMEFRAMES, Timeframe, parse_timeframe
from tftrade.data.timeframes import BAR_TIMEFRAMES, MINUTES
from tftrade.features.known import known_feature_names, known_features
from tftrade.strategy.bars import BARS_PER_DAY
from tftrade.strategy.bars import periods_per_year as strategy_ppy

NY = "America/New_York"
INTRADAY: tuple[Timeframe, ...] = ("1min", "5min", "15min", "30min", "1h")


def _local(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(ns, unit="ns", utc=True)).tz_convert(NY)


def test_one_table_covers_every_timeframe_and_everyone_reads_it() -> None:
    assert TIMEFRAMES == get_args(Timeframe) == tuple(TIMEFRAME_TABLE) == BAR_TIMEFRAMES
    assert {tf: bars_per_session(tf) for tf in TIMEFRAMES} == BARS_PER_DAY
    assert {tf: bar_minutes(tf) for tf in TIMEFRAMES} == MINUTES
    for tf in INTRADAY:  # enough bars of the bar length to cover 09:30-16:00, not one more
        assert (bars_per_session(tf) - 1) * bar_minutes(tf) < 390 <= bars_per_session(tf) * bar_minutes(tf)


@pytest.mark.parametrize(("tf", "per_year"), [("1min", 98_280.0), ("5min", 19_656.0), ("15min", 6_552.0),
                                              ("30min", 3_276.0), ("1h", 1_764.0), ("1day", 252.0)])
def test_periods_per_year_is_252_sessions_of_bars(tf: Timeframe, per_year: float) -> None:
    assert periods_per_year(tf) == strategy_ppy(tf) == per_year


@pytest.mark.parametrize(("text", "tf"), [("5m", "5min"), ("15MIN", "15min"), ("30m", "30min"), ("60min", "1h"),
                                          ("hourly", "1h"), ("1d", "1day"), ("minute", "1min")])
def test_parse_timeframe_aliases(text: str, tf: str) -> None:
    assert parse_timeframe(text) == tf


def test_parse_timeframe_names_every_choice() -> None:
    with pytest.raises(ValueError, match="'2min' is not one of 1min, 5min, 15min, 30min, 1h, 1day"):
        parse_timeframe("2min")


@pytest.mark.parametrize(("tf", "full", "half"), [("1min", 390, 210), ("5min", 78, 42), ("15min", 26, 14),
                                                  ("30min", 13, 7), ("1h", 7, 4), ("1day", 1, 1)])
def test_bar_grid_per_session_and_half_day(tf: Timeframe, full: int, half: int) -> None:
    cal = TradingCalendar(date(2024, 11, 27), date(2024, 11, 29))  # Wed full, Thu holiday, Fri half day
    starts = bar_starts_ns(cal, tf)
    local = _local(starts)
    per_day = pd.Series(local.date).value_counts().sort_index()
    assert per_day.tolist() == [full, half] and full == bars_per_session(tf)
    if tf != "1day":
        closes = cal.closes_ns()[np.searchsorted(cal.opens_ns(), starts, side="right") - 1]
        assert (starts < closes).all()
        assert set(((local.hour * 60 + local.minute - 570) % bar_minutes(tf)).tolist()) == {0}
        assert local[0].strftime("%H:%M") == "09:30"


def test_hourly_bars_on_the_hour_keep_their_phase() -> None:
    cal = TradingCalendar(date(2024, 11, 29), date(2024, 11, 29))
    t = pd.Timestamp("2024-11-26 11:00", tz=NY).value
    assert grid_phase(t, "1h") == 30 and grid_phase(t, "15min") == 0
    assert [x.strftime("%H:%M") for x in _local(bar_starts_ns(cal, "1h", 30))] == ["10:00", "11:00", "12:00"]


@pytest.mark.parametrize("tf", INTRADAY)
def test_calendar_inputs_span_the_session_for_every_intraday_timeframe(tf: Timeframe) -> None:
    cal = TradingCalendar(date(2024, 3, 4), date(2024, 3, 4))
    ts = bar_starts_ns(cal, tf)
    known = known_features(ts, tf, None, 2)
    assert known_feature_names(tf)[:3] == ["minute_of_day", "day_of_week", "minutes_to_close"]
    pos = known[:, 0, 0]
    assert pos[0] == -1.0 and pos[-1] == pytest.approx(1.0) and np.all(np.diff(pos) > 0)
    assert np.all(np.abs(known) <= 1.0) and np.all(np.diff(known[:, 0, 2]) < 0)
    assert known_feature_names("1day")[0] == "day_of_week"


def test_minute_calendar_inputs_unchanged() -> None:
    ts = pd.DatetimeIndex(["2024-01-02 14:30", "2024-01-02 17:45", "2024-01-02 20:59"], tz="UTC").as_unit("ns").asi8
    got = known_features(ts, "1min", None, 1)[:, 0, :3]
    minute = np.array([0.0, 195.0, 389.0])
    np.testing.assert_allclose(got[:, 0], minute / 389 * 2 - 1)
    np.testing.assert_allclose(got[:, 2], (389 - minute) / 390)


@pytest.mark.parametrize(("tf", "mode"), [("1min", "fixed"), ("5min", "fixed"), ("15min", "fixed"),
                                          ("30min", "fixed"), ("1h", "atr"), ("1day", "atr")])
def test_stop_defaults_by_timeframe(tf: Timeframe, mode: str) -> None:
    assert stop_rule(StopSettings(), tf).mode == mode
    assert stop_rule(StopSettings(mode="fixed"), tf).mode == "fixed"  # an explicit mode always wins
