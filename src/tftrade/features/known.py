"""Known-future inputs: calendar position of each bar and earnings-day flags.

These are known in advance for every future bar, so the decoder may see them. Intraday bars of
any length (1min ... 1h) get the same three calendar inputs: where the bar starts in the session
(-1 at the open, 1 at the last bar of a full session), the day of the week, and the time left to
16:00 as a fraction of the session.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tftrade.core.timeframes import SESSION_MINUTES, bar_minutes, bars_per_session, is_intraday, minutes_into_session
from tftrade.core.types import BoolArray, Float64Array, Int64Array, Timeframe

_NY = "America/New_York"


def known_feature_names(timeframe: Timeframe) -> list[str]:
    """Return the names of the known-future features for ``timeframe``, in column order."""
    if is_intraday(timeframe):
        return ["minute_of_day", "day_of_week", "minutes_to_close", "earnings_day"]
    return ["day_of_week", "month", "day_of_month", "earnings_day"]


def known_features(timestamps: Int64Array, timeframe: Timeframe, earnings: BoolArray | None, n: int) -> Float64Array:
    """Return known-future features as a time × ticker × feature array, each in [-1, 1].

    Parameters
    ----------
    timestamps
        Bar start times, UTC nanoseconds, shape ``(T,)``.
    timeframe
        Any :data:`~tftrade.core.types.Timeframe`; intraday ones share the same features.
    earnings
        Optional time × ticker flags of earnings sessions (``None``: all zero).
    n
        Number of tickers.

    Examples
    --------
    >>> ts = pd.DatetimeIndex(["2024-01-02 14:30", "2024-01-02 20:59"], tz="UTC").as_unit("ns").asi8
    >>> known_features(ts, "1min", None, 1)[:, 0, 0].round(3).tolist()
    [-1.0, 1.0]
    >>> ts = pd.DatetimeIndex(["2024-01-02 14:30", "2024-01-02 20:30"], tz="UTC").as_unit("ns").asi8
    >>> known_features(ts, "1h", None, 1)[:, 0, 0].round(3).tolist()
    [-1.0, 1.0]
    """
    local = pd.DatetimeIndex(pd.to_datetime(timestamps, unit="ns", utc=True)).tz_convert(_NY)
    dow = local.day_of_week.to_numpy() / 2.0 - 1.0
    if is_intraday(timeframe):
        minute = minutes_into_session(timestamps).astype(np.float64)
        last = float((bars_per_session(timeframe) - 1) * bar_minutes(timeframe))  # start of a full session's last bar
        cols = [minute / last * 2 - 1, dow, (last - minute) / SESSION_MINUTES]
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
