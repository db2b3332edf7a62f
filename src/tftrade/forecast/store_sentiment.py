"""Sentiment inputs for the forecaster from the store's ``reddit_sentiment_aggregated`` table.

Minute bars read the ``1min`` aggregates: the window starting at ``t`` holds the comments made in
``[t, t + 1 min)``, exactly the bar starting at ``t``. Daily bars read the ``1h`` aggregates and
give each daily bar the comments of the hours that end after the previous session's close and at
or before its own close (13:00 New York on half days), so no comment made after a bar's close ever
reaches it. Without any aggregate rows for the panel both arrays are ``None``: the sentiment
features are zero and ``sentiment_present`` is 0.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from tftrade.core.calendar import TradingCalendar
from tftrade.core.types import Float64Array, Int64Array, Timeframe
from tftrade.sentiment.aggregate import stored_panel

_NY = "America/New_York"
_HOUR_NS = 3_600_000_000_000


def stored_sentiment(
    engine: Engine, timestamps: Int64Array, tickers: list[str], timeframe: Timeframe
) -> tuple[Float64Array | None, Float64Array | None]:
    """Return ``(score, count)`` time × ticker arrays for the bars ``timestamps``, or ``(None, None)``.

    ``score`` is the comment-weighted mean sentiment (NaN where a bar has no comment), ``count`` the
    number of comments: the arguments of :func:`tftrade.features.sentiment.sentiment_features`.
    """
    ts = np.asarray(timestamps, dtype=np.int64)
    if len(ts) == 0:
        return None, None
    if timeframe == "1min":
        score, count = stored_panel(engine, pd.to_datetime(ts, utc=True), tickers, "1min")
    else:
        score, count = _daily(engine, ts, tickers)
    if not np.any(count > 0):
        return None, None
    return score, count


def _daily(engine: Engine, ts: Int64Array, tickers: list[str]) -> tuple[Float64Array, Float64Array]:
    closes = session_closes(ts)
    start = pd.Timestamp(int(ts[0]), tz="UTC").floor("h") - pd.Timedelta(days=1)
    hours = pd.date_range(start, pd.Timestamp(int(closes[-1]), tz="UTC"), freq="1h")
    score_h, count_h = stored_panel(engine, hours, tickers, "1h")
    ends = np.asarray(hours.as_unit("ns").asi8, dtype=np.int64) + _HOUR_NS
    bar = np.searchsorted(closes, ends, side="left")  # first bar whose close is at or after the hour's end
    keep = bar < len(ts)
    weight = np.where(np.isfinite(score_h), count_h, 0.0)[keep]
    total, count = np.zeros((len(ts), len(tickers))), np.zeros((len(ts), len(tickers)))
    np.add.at(total, bar[keep], np.nan_to_num(score_h[keep]) * weight)
    np.add.at(count, bar[keep], weight)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1e-12), np.nan), count


def session_closes(midnights: Int64Array) -> Int64Array:
    """Return the NYSE close of each daily bar (stamped at New York midnight of its session).

    Stamps that are not sessions get 16:00 New York of their date.

    Examples
    --------
    >>> d = pd.DatetimeIndex(["2024-11-27", "2024-11-29"]).tz_localize(_NY).as_unit("ns").asi8
    >>> [str(pd.Timestamp(c, tz="UTC").tz_convert(_NY).time()) for c in session_closes(d)]
    ['16:00:00', '13:00:00']
    """
    local = pd.to_datetime(midnights, utc=True).tz_convert(_NY)
    cal = TradingCalendar(local[0].date() - timedelta(days=1), local[-1].date() + timedelta(days=1))
    mids, closes = cal.session_midnights_ns(), cal.closes_ns()
    pos = np.clip(np.searchsorted(mids, midnights), 0, max(len(mids) - 1, 0))
    default = np.asarray((local.normalize() + pd.Timedelta(hours=16)).as_unit("ns").asi8, dtype=np.int64)
    if len(mids) == 0:
        return default
    return np.where(mids[pos] == midnights, closes[pos], default)
