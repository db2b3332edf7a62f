"""The one table of bar lengths and bars per session, and the bar grid of each timeframe.

Intraday bars start on a grid that steps by the bar length from the session open (09:30 New
York), and a bar starts before the close (16:00, 13:00 on half days). The last hourly bar of a
session (15:30) is therefore half an hour long, as most vendors stamp it: a full session has
7 hourly bars, a half day 4. Daily bars are stamped at New York midnight of their session.

Annualisation counts bars: 252 sessions a year times the bars of a full session.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tftrade.core.calendar import TradingCalendar
from tftrade.core.types import Int64Array, Timeframe

_NS_PER_MIN = 60_000_000_000
SESSION_MINUTES = 390
"""Minutes of a full regular session, 09:30-16:00 New York."""
SESSIONS_PER_YEAR = 252
_OPEN_MINUTE = 570  # 09:30 as minutes after midnight


@dataclass(frozen=True, slots=True)
class TimeframeSpec:
    """A timeframe's bar length and bars in a full regular session."""

    minutes: int
    bars_per_session: int


TIMEFRAME_TABLE: dict[Timeframe, TimeframeSpec] = {
    "1min": TimeframeSpec(1, 390),
    "5min": TimeframeSpec(5, 78),
    "15min": TimeframeSpec(15, 26),
    "30min": TimeframeSpec(30, 13),
    "1h": TimeframeSpec(60, 7),
    "1day": TimeframeSpec(1440, 1),
}
"""Bar length (minutes; a day for ``1day``) and bars per full session, for every :data:`Timeframe`."""

def is_intraday(timeframe: str) -> bool:
    """True for every timeframe shorter than a day."""
    return timeframe != "1day"


def bar_minutes(timeframe: Timeframe) -> int:
    """Length of a bar in minutes (1440 for ``1day``).

    >>> bar_minutes("15min"), bar_minutes("1h")
    (15, 60)
    """
    return TIMEFRAME_TABLE[timeframe].minutes


def bar_ns(timeframe: Timeframe) -> int:
    """Length of a bar in nanoseconds (a calendar day for ``1day``)."""
    return bar_minutes(timeframe) * _NS_PER_MIN


def bars_per_session(timeframe: Timeframe) -> int:
    """Bars in a full regular session.

    >>> [bars_per_session(t) for t in ("1min", "5min", "15min", "30min", "1h", "1day")]
    [390, 78, 26, 13, 7, 1]
    """
    return TIMEFRAME_TABLE[timeframe].bars_per_session


def periods_per_year(timeframe: Timeframe) -> float:
    """Bars per year: 252 sessions × bars per full session (what annualisation uses).

    >>> [periods_per_year(t) for t in ("1min", "5min", "15min", "30min", "1h", "1day")]
    [98280.0, 19656.0, 6552.0, 3276.0, 1764.0, 252.0]
    """
    return float(SESSIONS_PER_YEAR * bars_per_session(timeframe))


def grid_phase(timestamp_ns: int, timeframe: Timeframe) -> int:
    """Minutes by which a bar starting at ``timestamp_ns`` sits off its timeframe's grid from 09:30.

    0 for bars on the open's grid (09:30, 10:30, ... for hourly bars); 30 for hourly bars on the
    hour (10:00, 11:00, ...). Always 0 for daily bars.

    >>> grid_phase(pd.Timestamp("2024-01-02 15:00", tz="UTC").value, "1h")  # 10:00 New York
    30
    """
    if not is_intraday(timeframe):
        return 0
    local = pd.Timestamp(timestamp_ns, unit="ns", tz="UTC").tz_convert("America/New_York")
    return int((local.hour * 60 + local.minute - _OPEN_MINUTE) % bar_minutes(timeframe))


def bar_starts_ns(calendar: TradingCalendar, timeframe: Timeframe, phase: int = 0) -> Int64Array:
    """Start of every bar of ``timeframe`` in ``calendar``'s sessions, UTC nanoseconds, ascending.

    Intraday bars start at the open plus ``phase`` minutes and every bar length after, while
    before the session's close (so half days end at 13:00); daily bars are the New York midnights.

    Examples
    --------
    >>> from datetime import date
    >>> cal = TradingCalendar(date(2024, 11, 29), date(2024, 11, 29))  # a half day
    >>> [str(pd.Timestamp(t, tz="UTC").tz_convert("America/New_York").time()) for t in bar_starts_ns(cal, "1h")]
    ['09:30:00', '10:30:00', '11:30:00', '12:30:00']
    """
    if not is_intraday(timeframe):
        return calendar.session_midnights_ns()
    step = bar_ns(timeframe)
    opens = calendar.opens_ns() + phase * _NS_PER_MIN
    closes = calendar.closes_ns()
    counts = np.maximum((closes - opens + step - 1) // step, 0)
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.asarray(np.repeat(opens, counts) + offsets * step, dtype=np.int64)


def minutes_into_session(timestamps_ns: Int64Array) -> Int64Array:
    """Minutes from 09:30 New York of the same day to each bar start (0 for the opening bar)."""
    local = pd.DatetimeIndex(pd.to_datetime(np.asarray(timestamps_ns), unit="ns", utc=True)).tz_convert(
        "America/New_York")
    return np.asarray(local.hour.to_numpy() * 60 + local.minute.to_numpy() - _OPEN_MINUTE, dtype=np.int64)
