"""Row checks: each rule rejects what it should, with a readable reason, and nothing else."""

from __future__ import annotations

import pandas as pd
import pytest

from tftrade.data.validation import validate_bars

T0 = pd.Timestamp("2024-01-02 15:00", tz="UTC")  # 10:00 New York, a session


def _frame(**overrides: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "ticker": ["X", "X"], "window_start": [T0, T0 + pd.Timedelta(minutes=1)],
        "open": [10.0, 10.0], "high": [11.0, 11.0], "low": [9.0, 9.0], "close": [10.5, 10.5],
        "volume": [100.0, 100.0],
    }
    base.update(overrides)
    return pd.DataFrame(base)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"open": [10.0, -1.0]}, "non-positive open"),
        ({"high": [11.0, 10.2]}, "high 10.2 below max(open, close) 10.5"),
        ({"low": [9.0, 10.1]}, "low 10.1 above min(open, close) 10.0"),
        ({"volume": [100.0, -5.0]}, "negative volume"),
        ({"volume": [100.0, 1.5]}, "fractional volume"),
        ({"close": [10.5, float("nan")]}, "missing close"),
        ({"window_start": [T0, pd.Timestamp("2024-01-02 22:00", tz="UTC")]}, "outside XNYS trading hours"),
        ({"window_start": [T0, pd.Timestamp("2024-01-01 15:00", tz="UTC")]}, "outside XNYS trading hours"),
        ({"ticker": ["X", ""]}, "ticker missing"),
    ],
)
def test_each_rule_rejects_only_the_bad_row(override: dict[str, list[object]], reason: str) -> None:
    r = validate_bars(_frame(**override), "1min")
    assert len(r.good) == 1, "the good neighbour must survive"
    assert r.rejects["reason"].tolist()[0].startswith(reason) or reason in r.rejects["reason"].iloc[0]


def test_exact_repeat_is_a_duplicate_and_a_disagreeing_repeat_is_rejected() -> None:
    f = _frame(window_start=[T0, T0])
    r = validate_bars(f, "1min")
    assert (len(r.good), r.duplicates, len(r.rejects)) == (1, 1, 0)
    r2 = validate_bars(_frame(window_start=[T0, T0], close=[10.5, 10.4]), "1min")
    assert (len(r2.good), r2.duplicates, len(r2.rejects)) == (1, 0, 1)
    assert "conflicts with an earlier row" in r2.rejects["reason"].iloc[0]


def test_half_day_minutes_after_the_early_close_are_rejected() -> None:
    # 2024-11-29 closes at 13:00 New York (18:00 UTC).
    ok, late = pd.Timestamp("2024-11-29 17:59", tz="UTC"), pd.Timestamp("2024-11-29 18:00", tz="UTC")
    r = validate_bars(_frame(window_start=[ok, late]), "1min")
    assert len(r.good) == 1 and "outside XNYS" in r.rejects["reason"].iloc[0]


def test_daily_bar_on_a_holiday_is_rejected() -> None:
    day, holiday = pd.Timestamp("2024-07-03 04:00", tz="UTC"), pd.Timestamp("2024-07-04 04:00", tz="UTC")
    r = validate_bars(_frame(window_start=[day, holiday]), "1day")
    assert len(r.good) == 1 and "not an XNYS trading day" in r.rejects["reason"].iloc[0]


def test_prices_become_exact_integer_ticks() -> None:
    r = validate_bars(_frame(open=[10.1234, 10.0], low=[9.0, 9.0]), "1min")
    assert r.good["open"].tolist() == [101234, 100000]


@pytest.mark.parametrize("volume", [2.0**63, 1e20, float("inf")])
def test_a_numeric_volume_beyond_bigint_is_rejected_not_wrapped(volume: float) -> None:
    r = validate_bars(_frame(volume=[100.0, volume]), "1min")
    assert len(r.good) == 1 and r.good["volume"].tolist() == [100]
    assert r.rejects["reason"].iloc[0] == f"volume {volume} does not fit a 64-bit integer"
    assert r.rejects["kind"].iloc[0] == "volume does not fit"


def test_the_largest_float_volume_below_two_to_the_63_is_kept() -> None:
    below = float(2**63 - 1024)  # the float just under 2**63
    r = validate_bars(_frame(volume=[100.0, below]), "1min")
    assert r.good["volume"].tolist() == [100, 2**63 - 1024]


def test_session_calendar_is_built_once_per_range_and_agrees_with_the_calendar() -> None:
    from datetime import date

    from tftrade.core.calendar import TradingCalendar
    from tftrade.data.validation import session_calendar

    a, b = session_calendar(date(2024, 11, 25), date(2024, 11, 29)), session_calendar(date(2024, 11, 25),
                                                                                      date(2024, 11, 29))
    assert a is b
    ref = TradingCalendar(date(2024, 11, 25), date(2024, 11, 29))
    assert a.sessions == ref.sessions and (a.closes_ns() == ref.closes_ns()).all()
