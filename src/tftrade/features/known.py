"""Known-future inputs: calendar position of each bar and earnings-day flags.

These are known in advance for every future bar, so the decoder may see them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tftrade.core.types import BoolArray, Float64Array, Int64Array, Timeframe

_NY = "America/New_York"
_SESSION_MINUTES = 390.0


def known_feature_names(timeframe: Timeframe) -> list[str]:
    """Return the names of the known-future features for ``timeframe``, in column order."""
    if timeframe == "1min":
        return ["minute_of_day", "day_of_week", "minutes_to_close", "earnings_day"]
    return ["day_of_week", "month", "day_of_month", "earnings_day"]


def known_features(timestamps: Int64Array, timeframe: Timeframe, earnings: BoolArray | None, n: int) -> Float64Array:
    """Return known-future features as a time × ticker × feature array, each in [-1, 1].

    Parameters
    ----------
    timestamps
        Bar start times, UTC nanoseconds, shape ``(T,)``.
    timeframe
        ``"1min"`` or ``"1day"``.
    earnings
        Optional time × ticker flags of earnings sessions (``None``: all zero).
    n
        Number of tickers.

    Examples
    --------
    >>> ts = pd.DatetimeIndex(["2024-01-02 14:30", "2024-01-02 20:59"], tz="UTC").as_unit("ns").asi8
    >>> known_features(ts, "1min", None, 1)[:, 0, 0].round(3).tolist()
    [-1.0, 1.0]
    """
    local = pd.DatetimeIndex(pd.to_datetime(timestamps, unit="ns", utc=True)).tz_convert(_NY)
    dow = local.day_of_week.to_numpy() / 2.0 - 1.0
    if timeframe == "1min":
        minute = (local.hour.to_numpy() * 60 + local.minute.to_numpy() - 570).astype(np.float64)
        cols = [minute / (_SESSION_MINUTES - 1) * 2 - 1, dow, (_SESSION_MINUTES - 1 - minute) / _SESSION_MINUTES]
    else:
        cols = [dow, (local.month.to_numpy() - 1) / 5.5 - 1.0, (local.day.to_numpy() - 1) / 15.0 - 1.0]
    per_time = np.stack(cols, axis=-1).astype(np.float64)
    out = np.repeat(per_time[:, None, :], n, axis=1)
    flag = np.zeros((len(timestamps), n)) if earnings is None else earnings.astype(np.float64)
    return np.concatenate([out, flag[..., None]], axis=-1)


def earnings_flags(timestamps: Int64Array, tickers: list[str], sessions: dict[str, list[object]]) -> BoolArray:
    """Return time × ticker flags marking bars that fall on each ticker's earnings sessions."""
    local = pd.DatetimeIndex(pd.to_datetime(timestamps, unit="ns", utc=True)).tz_convert(_NY)
    days = local.normalize().tz_localize(None)
    out = np.zeros((len(timestamps), len(tickers)), dtype=bool)
    for i, t in enumerate(tickers):
        if sessions.get(t):
            out[:, i] = days.isin(pd.DatetimeIndex([pd.Timestamp(str(d)) for d in sessions[t]]))
    return out
