"""Bar timeframes a file may hold, and detecting a file's bar spacing from its times.

The store keeps any of :data:`BAR_TIMEFRAMES` (its ``timeframe`` column is text);
models and backtests read the ones :data:`tftrade.core.types.TIMEFRAMES` names.
"""

from __future__ import annotations

from typing import Literal, cast

import numpy as np
import pandas as pd

from tftrade.core.errors import DataError

BarTimeframe = Literal["1min", "5min", "15min", "30min", "1h", "1day"]
BAR_TIMEFRAMES: tuple[BarTimeframe, ...] = ("1min", "5min", "15min", "30min", "1h", "1day")
MINUTES: dict[BarTimeframe, int] = {"1min": 1, "5min": 5, "15min": 15, "30min": 30, "1h": 60, "1day": 1440}
_MIN_GAPS = 3
_ALIASES: dict[str, BarTimeframe] = {
    "1m": "1min", "minute": "1min", "1minute": "1min", "5m": "5min", "15m": "15min", "30m": "30min",
    "60min": "1h", "60m": "1h", "1hour": "1h", "hour": "1h", "hourly": "1h", "1d": "1day", "day": "1day",
    "daily": "1day", "d": "1day",
}


def parse_bar_timeframe(value: str) -> BarTimeframe:
    """Return ``value`` as a :data:`BarTimeframe`, or raise ``ValueError`` naming the choices.

    Examples
    --------
    >>> parse_bar_timeframe("5m"), parse_bar_timeframe("60min"), parse_bar_timeframe("daily")
    ('5min', '1h', '1day')
    """
    key = value.strip().lower()
    if key in BAR_TIMEFRAMES:
        return key
    try:
        return _ALIASES[key]
    except KeyError:
        raise ValueError(f"timeframe {value!r} is not one of {', '.join(BAR_TIMEFRAMES)}") from None


def is_intraday(timeframe: str) -> bool:
    """True for every timeframe shorter than a day."""
    return timeframe != "1day"


def spacing_ns(timeframe: str) -> int:
    """The bar length in nanoseconds."""
    return MINUTES[cast(BarTimeframe, timeframe)] * 60_000_000_000


def detect_spacing(tickers: pd.Series, utc: pd.Series, daily_like: bool) -> tuple[BarTimeframe | None, str]:
    """Guess a file's timeframe from the spacing of each ticker's bars within a day.

    Parameters
    ----------
    tickers, utc
        The rows' tickers and UTC bar times (NaT allowed and ignored).
    daily_like
        True when every time was written as a date, or at one time of day.

    Returns
    -------
    tuple
        The timeframe (``None`` when fewer than three gaps leave it open) and the spacing
        seen, as text.

    Raises
    ------
    DataError
        If bars are spaced at an interval that is no supported timeframe.
    """
    if daily_like:
        return "1day", "1day"
    frame = pd.DataFrame({"t": tickers.to_numpy(), "ns": utc.dt.as_unit("ns").astype("int64").where(utc.notna())})
    frame = frame.dropna().drop_duplicates().sort_values(["t", "ns"])
    ns = frame["ns"].to_numpy(dtype=np.int64)
    same = frame["t"].to_numpy()[1:] == frame["t"].to_numpy()[:-1]
    gaps = np.diff(ns)[same]
    minute = 60_000_000_000
    gaps = gaps[(gaps > 0) & (gaps < 12 * 60 * minute) & (gaps % minute == 0)] // minute
    if len(gaps) == 0:
        return None, "unknown"
    return _spacing_from_gaps(gaps)


def _spacing_from_gaps(gaps: np.ndarray) -> tuple[BarTimeframe | None, str]:
    """The longest timeframe that at least 90 % of the gaps (in minutes) are whole multiples of.

    Missing bars only make gaps longer multiples, and a stray bar off the grid is outvoted. A file
    whose bars are mostly spaced at some other interval (7 minutes, say) is refused.
    """
    for tf in reversed(BAR_TIMEFRAMES[:-1]):
        if np.mean(gaps % MINUTES[tf] == 0) >= 0.9:
            break
    values, counts = np.unique(gaps, return_counts=True)
    typical = int(values[np.argmax(counts)])
    if tf == "1min" and typical != 1 and len(gaps) >= 5 and np.mean(gaps == 1) < 0.1:
        raise DataError(f"bars are {typical} minutes apart, which is not a supported timeframe "
                        f"({', '.join(BAR_TIMEFRAMES)})")
    if len(gaps) < _MIN_GAPS:
        return None, f"{typical}min"
    return tf, tf
