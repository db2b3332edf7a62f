"""Calendar-period returns of an equity curve sampled at arbitrary (e.g. minute) timestamps.

The equity is sampled at the last observation of each period (UTC calendar). The
return of a period is its closing equity over the previous period's closing equity,
minus one; the first period is measured from the first observation of the run:

.. math:: r_1 = V_{\\text{end}(1)} / V_0 - 1, \\qquad r_p = V_{\\text{end}(p)} / V_{\\text{end}(p-1)} - 1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from tftrade.analytics.errors import AnalyticsError
from tftrade.core.types import Float64Array

Period = Literal["month", "day"]
_FREQ = {"month": "M", "day": "D"}


@dataclass(frozen=True, slots=True)
class PeriodReturns:
    """Returns per calendar period; ``periods`` holds each period's start (UTC)."""

    period: Period
    periods: pd.DatetimeIndex
    returns: Float64Array


def period_returns(timestamps_ns: npt.ArrayLike, equity: npt.ArrayLike, period: Period) -> PeriodReturns:
    """Return per-period returns of ``equity`` observed at ``timestamps_ns`` (epoch ns, UTC, sorted).

    Examples
    --------
    >>> ts = pd.to_datetime(["2024-01-02", "2024-01-31", "2024-02-15", "2024-02-29"], utc=True).as_unit("ns").asi8
    >>> res = period_returns(ts, [100.0, 110.0, 99.0, 121.0], "month")
    >>> [p.strftime("%Y-%m") for p in res.periods], res.returns.round(4).tolist()
    (['2024-01', '2024-02'], [0.1, 0.1])
    """
    ts = np.asarray(timestamps_ns, dtype=np.int64).reshape(-1)
    values = np.asarray(equity, dtype=np.float64).reshape(-1)
    if ts.shape != values.shape or ts.shape[0] < 2:
        raise AnalyticsError(f"need equal-length timestamps and equity of at least 2 points, got {ts.shape[0]} "
                             f"and {values.shape[0]}")
    index = pd.DatetimeIndex(pd.to_datetime(ts, unit="ns", utc=True))
    labels = index.tz_localize(None).to_period(_FREQ[period])
    codes = labels.asi8
    last = np.flatnonzero(np.r_[codes[1:] != codes[:-1], True])  # last observation of each period
    closes = values[last]
    previous = np.r_[values[0], closes[:-1]]
    starts = labels[last].to_timestamp().tz_localize("UTC")
    return PeriodReturns(period, pd.DatetimeIndex(starts), np.asarray(closes / previous - 1.0, dtype=np.float64))


def covers_two_months(timestamps_ns: npt.ArrayLike) -> bool:
    """Return whether the run spans at least two calendar months of time (about 61 days).

    Examples
    --------
    >>> day = 86_400 * 10**9
    >>> covers_two_months([0, 30 * day]), covers_two_months([0, 70 * day])
    (False, True)
    """
    ts = np.asarray(timestamps_ns, dtype=np.int64).reshape(-1)
    return bool(ts.shape[0] > 1 and (ts[-1] - ts[0]) >= 61 * 86_400 * 10**9)
