"""The NYSE trading calendar (``exchange-calendars`` XNYS): sessions, half days, holidays.

Times are UTC nanoseconds (``int64``) so checks over millions of bars stay vectorised.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from tftrade.core.types import BoolArray, Int64Array

_NS_PER_MIN = 60_000_000_000


@dataclass(frozen=True)
class TradingCalendar:
    """Sessions of one exchange between ``start`` and ``end`` (inclusive dates).

    Examples
    --------
    >>> cal = TradingCalendar(date(2024, 11, 25), date(2024, 11, 29))
    >>> [str(d) for d in cal.sessions]
    ['2024-11-25', '2024-11-26', '2024-11-27', '2024-11-29']
    >>> cal.half_days
    [datetime.date(2024, 11, 29)]
    """

    start: date
    end: date
    exchange: str = "XNYS"

    @cached_property
    def _schedule(self) -> pd.DataFrame:
        cal = _exchange(self.exchange)
        first, last = pd.Timestamp(self.start), pd.Timestamp(self.end)
        if last < pd.Timestamp(cal.first_session):
            return cal.schedule.iloc[0:0]
        return cal.schedule.loc[max(first, cal.first_session): min(last, cal.last_session)]

    @property
    def sessions(self) -> list[date]:
        """Trading days in the range."""
        return [ts.date() for ts in self._schedule.index]

    @property
    def half_days(self) -> list[date]:
        """Sessions that close early (13:00 New York)."""
        minutes = self.session_minutes()
        return [d for d, m in zip(self.sessions, minutes, strict=True) if m < 390]

    def opens_ns(self) -> Int64Array:
        """Session open times, UTC nanoseconds."""
        return _to_ns(self._schedule["open"])

    def closes_ns(self) -> Int64Array:
        """Session close times, UTC nanoseconds."""
        return _to_ns(self._schedule["close"])

    def session_midnights_ns(self) -> Int64Array:
        """New York midnight of each session, as UTC nanoseconds (the stamp of a daily bar)."""
        local = pd.DatetimeIndex(self._schedule.index).tz_localize("America/New_York")
        return np.asarray(local.tz_convert("UTC").as_unit("ns").asi8, dtype=np.int64)

    def session_minutes(self) -> Int64Array:
        """Length of each session in minutes (390 normally, 210 on a half day)."""
        return (self.closes_ns() - self.opens_ns()) // _NS_PER_MIN

    def minute_starts_ns(self) -> Int64Array:
        """Start of every trading minute in the range, UTC nanoseconds, ascending."""
        opens, lengths = self.opens_ns(), self.session_minutes()
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return np.repeat(opens, lengths) + offsets * _NS_PER_MIN

    def in_session(self, ts_ns: Int64Array) -> BoolArray:
        """True where a bar starting at ``ts_ns`` lies inside a session: open ≤ t < close."""
        opens, closes = self.opens_ns(), self.closes_ns()
        idx = np.searchsorted(opens, ts_ns, side="right") - 1
        ok = idx >= 0
        safe = np.clip(idx, 0, max(len(opens) - 1, 0))
        if len(opens) == 0:
            return np.zeros(len(ts_ns), dtype=bool)
        return ok & (ts_ns < closes[safe])


def _exchange(name: str) -> xcals.ExchangeCalendar:
    """The exchange's calendar from 1990 on (``exchange-calendars`` caches it after the first call)."""
    with warnings.catch_warnings():
        # exchange-calendars 4.13 reads Series.values, which pandas 3.1 deprecates; harmless here.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return xcals.get_calendar(name, start="1990-01-02")


def _to_ns(col: pd.Series) -> Int64Array:
    return np.asarray(pd.DatetimeIndex(col).as_unit("ns").asi8, dtype=np.int64)
