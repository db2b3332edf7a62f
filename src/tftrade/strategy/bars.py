"""Bar counts per session and per year, by timeframe (what annualisation and ADV need).

Both come from the one table in :mod:`tftrade.core.timeframes`.
"""

from __future__ import annotations

from tftrade.core.timeframes import TIMEFRAME_TABLE, periods_per_year
from tftrade.core.types import Timeframe

__all__ = ["BARS_PER_DAY", "periods_per_year"]

BARS_PER_DAY: dict[Timeframe, int] = {tf: spec.bars_per_session for tf, spec in TIMEFRAME_TABLE.items()}
"""Bars in a full regular session, by timeframe (390 minute bars, 7 hourly bars, 1 daily bar)."""
