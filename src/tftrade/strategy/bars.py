"""Bar counts per session and per year, by timeframe (what annualisation and ADV need)."""

from __future__ import annotations

from tftrade.core.types import Timeframe

BARS_PER_DAY: dict[Timeframe, int] = {"1min": 390, "1day": 1}


def periods_per_year(timeframe: Timeframe) -> float:
    """Bars per year: 252 sessions × bars per session.

    >>> periods_per_year("1min"), periods_per_year("1day")
    (98280.0, 252.0)
    """
    return 252.0 * BARS_PER_DAY[timeframe]
