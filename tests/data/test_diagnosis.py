"""The run verdict as a rule: never ok above the threshold; shifted times named whatever the zone or session."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tftrade.data.diagnosis import SUSPECT_SHARE, judge


def _rejects(n: int) -> pd.DataFrame:
    return pd.DataFrame({"row_number": range(n), "raw": "{}", "reason": "non-positive low -1", "kind": "non-positive"})


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 5000), share=st.floats(0, 1))
def test_a_run_is_ok_only_when_at_most_the_threshold_is_quarantined(rows: int, share: float) -> None:
    bad = int(rows * share)
    times = pd.Series(pd.date_range("2024-01-03 15:00", periods=1, freq="min", tz="UTC").repeat(1))
    v = judge(rows, _rejects(bad), times, "1min", "regular", "America/New_York")
    assert (v.status == "ok") == (bad / rows <= SUSPECT_SHARE)
    if v.status == "suspect":
        assert v.cause and "most common reason: non-positive" in v.cause


def _session_bars(days: int = 2, start: str = "09:30", minutes: int = 390) -> pd.Series:
    out = []
    for day in pd.bdate_range("2024-06-04", periods=days):
        local = pd.date_range(day + pd.Timedelta(start + ":00"), periods=minutes, freq="min", tz="America/New_York")
        out.append(local.tz_convert("UTC"))
    return pd.Series(pd.DatetimeIndex(pd.concat([pd.Series(x) for x in out])))


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "Asia/Tokyo", "America/Los_Angeles"])
@pytest.mark.parametrize("session", ["regular", "extended"])
def test_naive_times_from_another_zone_are_named(zone: str, session: str) -> None:
    start, minutes = ("09:30", 390) if session == "regular" else ("04:00", 960)
    true = _session_bars(start=start, minutes=minutes)
    # The file wrote wall times in `zone`; they were read as New York times.
    wall = true.dt.tz_convert(zone).dt.tz_localize(None)
    misread = wall.dt.tz_localize("America/New_York", ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    v = judge(len(misread), _rejects(0), misread, "1min", session, "America/New_York")  # type: ignore[arg-type]
    assert v.time_shift_suspected and f"try --tz {zone}" in str(v.cause), v.cause


def test_well_placed_bars_raise_no_time_suspicion() -> None:
    for session, start, minutes in (("regular", "09:30", 390), ("extended", "04:00", 960), ("regular", "12:00", 30)):
        v = judge(1000, _rejects(0), _session_bars(start=start, minutes=minutes), "1min", session,  # type: ignore[arg-type]
                  "America/New_York")
        assert v.status == "ok" and not v.time_shift_suspected


def test_offsets_that_lie_are_named_as_a_shift() -> None:
    true = _session_bars()
    labelled_utc = true.dt.tz_convert("America/New_York").dt.tz_localize(None).dt.tz_localize("UTC")
    v = judge(len(true), _rejects(0), labelled_utc, "1min", "regular", None)
    assert v.time_shift_suspected and "times look 4 h early" in str(v.cause)


@pytest.mark.parametrize("share_outside", [0.59, 0.3])
def test_extended_hours_read_as_regular_name_the_session_option(share_outside: float) -> None:
    # a pre/after-market file loaded with the default session said only "59% of bars fall outside ..."
    ext = _session_bars(start="04:00", minutes=960)
    keep = int(len(ext) * (1 - share_outside) / 0.41) if share_outside < 0.59 else len(ext)
    times = pd.concat([ext[ext.dt.tz_convert("America/New_York").dt.hour.between(10, 15)], ext]).iloc[-keep:]
    local = times.dt.tz_convert("America/New_York")
    outside = ~((local.dt.hour * 60 + local.dt.minute).between(570, 959))
    v = judge(len(times), _rejects(int(outside.sum())), times, "1min", "regular", "America/New_York")
    assert v.status == "suspect" and not v.time_shift_suspected
    assert "try --session extended" in str(v.cause), v.cause


@pytest.mark.parametrize("session", ["regular", "extended"])
def test_bars_labelled_by_their_end_are_named(session: str) -> None:
    # 09:31..16:00 bars: only the 16:00 one was quarantined (0.3 %), the run was ok, every bar a minute late
    start, minutes = ("09:31", 390) if session == "regular" else ("04:01", 960)
    times = _session_bars(days=3, start=start, minutes=minutes)
    local = times.dt.tz_convert("America/New_York")
    last = local.dt.hour == (16 if session == "regular" else 20)
    v = judge(len(times), _rejects(int(last.sum())), times, "1min", session, "America/New_York")  # type: ignore[arg-type]
    assert v.status == "suspect" and "labelled by their end" in str(v.cause), v.cause
    fine = judge(len(times), _rejects(0), _session_bars(days=3, start=start.replace(":31", ":30").replace(
        ":01", ":00"), minutes=minutes), "1min", session, "America/New_York")  # type: ignore[arg-type]
    assert fine.status == "ok"
