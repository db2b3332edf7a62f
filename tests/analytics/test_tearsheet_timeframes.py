"""Tearsheet time labels for every bar length: New York session times intraday, dates for daily bars."""

from __future__ import annotations

from datetime import date

import pytest

from tftrade.analytics.tearsheet_charts import plot_times, session_rangebreaks
from tftrade.core.calendar import TradingCalendar
from tftrade.core.timeframes import bar_starts_ns
from tftrade.core.types import Timeframe


@pytest.mark.parametrize(("tf", "first", "last"), [
    ("5min", "2024-11-29 09:30", "2024-11-29 12:55"), ("15min", "2024-11-29 09:30", "2024-11-29 12:45"),
    ("30min", "2024-11-29 09:30", "2024-11-29 12:30"), ("1h", "2024-11-29 09:30", "2024-11-29 12:30"),
    ("1day", "2024-11-29", "2024-11-29"),
])
def test_labels_are_exchange_times_of_the_bar_starts(tf: Timeframe, first: str, last: str) -> None:
    labels = plot_times(bar_starts_ns(TradingCalendar(date(2024, 11, 29), date(2024, 11, 29)), tf)).tolist()
    assert (labels[0], labels[-1]) == (first, last)
    hides_nights = any(b.get("pattern") == "hour" for b in session_rangebreaks(
        bar_starts_ns(TradingCalendar(date(2024, 11, 26), date(2024, 11, 29)), tf)))
    assert hides_nights == (tf != "1day")
