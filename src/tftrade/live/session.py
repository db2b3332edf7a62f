"""The XNYS session as the loop's decision window: decide only while the exchange is open; flatten before the close."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from tftrade.core.calendar import TradingCalendar
from tftrade.core.types import Int64Array

_NS_PER_MIN = 60_000_000_000


class XnysSession:
    """Open from each session's open to its close (13:00 on half days); flattening ``flatten_minutes`` before it.

    ``flatten_minutes=None`` never flattens. Decisions need the time at the close of the bar
    being decided on (the loop passes the injected clock's time).

    Examples
    --------
    >>> s = XnysSession(flatten_minutes=5)
    >>> noon = pd.Timestamp("2024-07-03 16:00", tz="UTC").value  # 12:00 New York, a half day
    >>> s.can_decide(noon), s.flatten_due(noon), s.flatten_due(noon + 56 * 60 * 10**9)
    (True, False, True)
    >>> s.can_decide(pd.Timestamp("2024-07-04 15:00", tz="UTC").value)  # Independence Day
    False
    """

    def __init__(self, flatten_minutes: int | None = None) -> None:
        self.flatten_minutes = flatten_minutes
        self._span: tuple[date, Int64Array, Int64Array] | None = None

    def _bounds(self, now_ns: int) -> tuple[Int64Array, Int64Array]:
        day = pd.Timestamp(now_ns, unit="ns", tz="UTC").tz_convert("America/New_York").date()
        span = self._span
        if span is None or not span[0] <= day <= span[0] + timedelta(days=20):
            cal = TradingCalendar(day - timedelta(days=1), day + timedelta(days=30))
            span = self._span = (day - timedelta(days=1), cal.opens_ns(), cal.closes_ns())
        return span[1], span[2]

    def _session(self, now_ns: int) -> tuple[int, int] | None:
        opens, closes = self._bounds(now_ns)
        i = int(np.searchsorted(opens, now_ns, side="right")) - 1
        if i < 0 or now_ns >= closes[i]:
            return None
        return int(opens[i]), int(closes[i])

    def can_decide(self, now_ns: int) -> bool:
        """True inside a session."""
        return self._session(now_ns) is not None

    def flatten_due(self, now_ns: int) -> bool:
        """True in the last ``flatten_minutes`` of a session."""
        if self.flatten_minutes is None:
            return False
        s = self._session(now_ns)
        return s is not None and now_ns >= s[1] - self.flatten_minutes * _NS_PER_MIN
