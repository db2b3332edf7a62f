"""Domain types shared by every package."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt

Timeframe = Literal["1min", "5min", "15min", "30min", "1h", "1day"]
"""Bar lengths the whole system handles; bar lengths and bars per session are in :mod:`tftrade.core.timeframes`."""
TIMEFRAMES: tuple[Timeframe, ...] = ("1min", "5min", "15min", "30min", "1h", "1day")
_TIMEFRAME_ALIASES: dict[str, Timeframe] = {
    "1m": "1min", "minute": "1min", "1minute": "1min", "5m": "5min", "15m": "15min", "30m": "30min",
    "60min": "1h", "60m": "1h", "1hour": "1h", "hour": "1h", "hourly": "1h", "1d": "1day", "day": "1day",
    "daily": "1day", "d": "1day",
}

Float64Array = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

PRICE_SCALE = 4
"""Prices are stored exactly with this many decimal places (the spec's DECIMAL(10,4))."""


def parse_timeframe(value: str) -> Timeframe:
    """Return ``value`` as a :data:`Timeframe` or raise ``ValueError`` naming the choices.

    Examples
    --------
    >>> parse_timeframe("5m"), parse_timeframe("60min"), parse_timeframe("daily"), parse_timeframe("15min")
    ('5min', '1h', '1day', '15min')
    """
    key = value.strip().lower()
    for tf in TIMEFRAMES:
        if key == tf:
            return tf
    try:
        return _TIMEFRAME_ALIASES[key]
    except KeyError:
        raise ValueError(f"timeframe {value!r} is not one of {', '.join(TIMEFRAMES)}") from None


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar. Prices are exact decimals; ``window_start`` is timezone-aware UTC."""

    ticker: str
    timeframe: Timeframe
    window_start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    price_only: bool = False


@dataclass(frozen=True, slots=True)
class Security:
    """A row of the securities master."""

    ticker: str
    name: str
    sector: str
    market_cap: float | None = None
