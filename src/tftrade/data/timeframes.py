"""Bar timeframes a file may hold, and detecting a file's bar spacing from its times.

The timeframes and their bar lengths are :data:`tftrade.core.types.TIMEFRAMES` and
:data:`tftrade.core.timeframes.TIMEFRAME_TABLE`; this module re-exports them under the names ingest uses.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from tftrade.core.errors import DataError
from tftrade.core.timeframes import TIMEFRAME_TABLE, is_intraday
from tftrade.core.types import TIMEFRAMES, Timeframe, parse_timeframe

__all__ = ["BAR_TIMEFRAMES", "MINUTES", "BarTimeframe", "check_daily_spacing", "detect_spacing", "is_intraday",
           "parse_bar_timeframe", "spacing_ns"]

BarTimeframe = Timeframe
BAR_TIMEFRAMES: tuple[BarTimeframe, ...] = TIMEFRAMES
MINUTES: dict[BarTimeframe, int] = {tf: spec.minutes for tf, spec in TIMEFRAME_TABLE.items()}
_MIN_GAPS = 3


def parse_bar_timeframe(value: str) -> BarTimeframe:
    """Return ``value`` as a :data:`BarTimeframe`, or raise ``ValueError`` naming the choices.

    Examples
    --------
    >>> parse_bar_timeframe("5m"), parse_bar_timeframe("60min"), parse_bar_timeframe("daily")
    ('5min', '1h', '1day')
    """
    return parse_timeframe(value)


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
    ns = utc.dt.as_unit("ns").astype("int64").where(utc.notna())  # NaN where no time (then float64)
    known = ns.notna().to_numpy(dtype=bool) & tickers.notna().to_numpy(dtype=bool)
    gaps = _ticker_gaps(tickers.to_numpy()[known], ns.to_numpy()[known].astype(np.int64))
    minute = 60_000_000_000
    gaps = gaps[(gaps > 0) & (gaps < 12 * 60 * minute) & (gaps % minute == 0)] // minute
    if len(gaps) == 0:
        return None, "unknown"
    return _spacing_from_gaps(gaps)


def check_daily_spacing(tickers: pd.Series, utc: pd.Series) -> None:
    """Refuse weekly or monthly bars read as daily: typically five or more days apart.

    Raises
    ------
    DataError
        If the median gap between a ticker's consecutive dates is five days or more.
    """
    known = utc.notna().to_numpy(dtype=bool)
    day = utc.dt.as_unit("ns").astype("int64").to_numpy()[known] // 86_400_000_000_000
    gaps = _ticker_gaps(tickers.to_numpy()[known], day)
    if len(gaps) >= _MIN_GAPS and np.median(gaps) >= 5:
        raise DataError(f"bars are about {int(np.median(gaps))} days apart (weekly or monthly bars?), which is not "
                        f"a supported timeframe ({', '.join(BAR_TIMEFRAMES)})")


def _ticker_gaps(tickers: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The positive steps between each ticker's consecutive sorted ``values`` (missing tickers form one group)."""
    code = pd.factorize(tickers)[0]
    order = np.lexsort((values, code))
    code, values = code[order], values[order]
    step = np.diff(values)
    return np.asarray(step[(code[1:] == code[:-1]) & (step > 0)])


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
