"""Stored sentiment aggregates onto bars: read once per window length, reused for every panel.

Minute bars take the ``1min`` aggregates: the window starting at ``t`` holds the comments made in
``[t, t + 1 min)``, exactly the bar starting at ``t``; longer intraday bars (5min ... 1h) sum the
``1min`` windows inside ``[t, t + bar)``, count-weighted. Daily bars take the ``1h`` aggregates and
give each daily bar the comments of the hours that end after the previous session's close and at
or before its own close (13:00 New York on half days), so no comment made after a bar's close ever
reaches it. Without any aggregate for the bars both arrays are ``None``: the sentiment features
are zero and ``sentiment_present`` is 0.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine

from tftrade.core.calendar import TradingCalendar
from tftrade.core.timeframes import bar_ns, is_intraday
from tftrade.core.types import Float64Array, Int64Array, Timeframe

_NY = "America/New_York"
_HOUR_NS = 3_600_000_000_000
_PAD = pd.Timedelta(days=2)
"""Aggregates are read this far around the bars' range (a daily bar takes the hours after the previous close)."""

INTRADAY_WINDOW, DAILY_WINDOW = "1min", "1h"
"""The aggregate windows bars read: intraday bars the ``1min`` windows, daily bars the ``1h`` windows."""


def bar_window(timeframe: Timeframe) -> str:
    """Return the aggregate window the bars of ``timeframe`` are given their sentiment from.

    Examples
    --------
    >>> bar_window("5min"), bar_window("1day")
    ('1min', '1h')
    """
    return INTRADAY_WINDOW if is_intraday(timeframe) else DAILY_WINDOW


WindowReader = Callable[[str], pd.DataFrame]
"""``window`` → the stored aggregates of the universe (``ticker, time_window, avg_sentiment, total_comments``)."""


class SentimentWindows:
    """The stored aggregates of one universe and range; each window length is read at most once.

    ``read`` returns the aggregates of a window length (see :data:`WindowReader`); use
    :meth:`from_store` to read them from the store's ``reddit_sentiment_aggregated``.
    """

    def __init__(self, read: WindowReader) -> None:
        self._read = read
        self._wide: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
        self.reads = 0
        """How many times the reader was called (once per window length used)."""

    @classmethod
    def from_store(cls, engine: Engine, tickers: list[str], start_ns: int | None = None,
                   end_ns: int | None = None) -> SentimentWindows:
        """The aggregates of ``tickers`` around ``[start_ns, end_ns]`` (bar starts; either bound optional)."""
        from tftrade.store.sentiment_windows import read_sentiment_windows

        start = None if start_ns is None else (pd.Timestamp(start_ns, tz="UTC") - _PAD).to_pydatetime()
        end = None if end_ns is None else (pd.Timestamp(end_ns, tz="UTC") + _PAD).to_pydatetime()
        names = list(tickers)
        return cls(lambda window: read_sentiment_windows(engine, names, window, start, end))

    def _tables(self, window: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        if window not in self._wide:
            self.reads += 1
            frame = self._read(window)
            if len(frame):
                self._wide[window] = (frame.pivot(index="time_window", columns="ticker", values="avg_sentiment"),
                                      frame.pivot(index="time_window", columns="ticker", values="total_comments"))
            else:
                self._wide[window] = (pd.DataFrame(), pd.DataFrame())
        return self._wide[window]

    def on_windows(self, times: npt.ArrayLike, tickers: list[str], window: str) -> tuple[Float64Array, Float64Array]:
        """``(score, count)`` time × ticker on the window starts ``times`` (score NaN and count 0 where none)."""
        index = pd.to_datetime(np.asarray(times), utc=True)
        score, count = self._tables(window)
        s: Float64Array = score.reindex(index=index, columns=tickers).to_numpy(dtype=float)
        c: Float64Array = np.nan_to_num(count.reindex(index=index, columns=tickers).to_numpy(dtype=float), nan=0.0)
        return s, c

    def on_bars(self, timestamps: Int64Array, tickers: list[str],
                timeframe: Timeframe) -> tuple[Float64Array | None, Float64Array | None]:
        """``(score, count)`` of each bar starting at ``timestamps`` (see the module docstring), or ``(None, None)``.

        ``score`` is the comment-weighted mean sentiment (NaN where a bar has no comment), ``count``
        the number of comments: the arguments of :func:`tftrade.features.sentiment.sentiment_features`.
        """
        ts = np.asarray(timestamps, dtype=np.int64)
        if len(ts) == 0:
            return None, None
        if timeframe == "1min":
            score, count = self.on_windows(pd.to_datetime(ts, utc=True), tickers, INTRADAY_WINDOW)
        elif is_intraday(timeframe):
            score, count = self._intraday(ts, tickers, bar_ns(timeframe))
        else:
            score, count = self._daily(ts, tickers)
        if not np.any(count > 0):
            return None, None
        return score, count

    def _intraday(self, ts: Int64Array, tickers: list[str], length: int) -> tuple[Float64Array, Float64Array]:
        """Count-weighted ``1min`` aggregates of the minutes inside each bar ``[t, t + length)``."""
        minute = 60_000_000_000
        minutes = np.unique((ts[:, None] + np.arange(0, length, minute)[None, :]).ravel())
        score_m, count_m = self.on_windows(pd.to_datetime(minutes, utc=True), tickers, INTRADAY_WINDOW)
        bar = np.searchsorted(ts, minutes, side="right") - 1
        keep = (bar >= 0) & (minutes < ts[np.clip(bar, 0, None)] + length)
        return _bucket(score_m[keep], count_m[keep], bar[keep], len(ts), len(tickers))

    def _daily(self, ts: Int64Array, tickers: list[str]) -> tuple[Float64Array, Float64Array]:
        closes = session_closes(ts)
        start = pd.Timestamp(int(ts[0]), tz="UTC").floor("h") - pd.Timedelta(days=1)
        hours = pd.date_range(start, pd.Timestamp(int(closes[-1]), tz="UTC"), freq="1h")
        score_h, count_h = self.on_windows(hours, tickers, DAILY_WINDOW)
        ends = np.asarray(hours.as_unit("ns").asi8, dtype=np.int64) + _HOUR_NS
        bar = np.searchsorted(closes, ends, side="left")  # first bar whose close is at or after the hour's end
        keep = bar < len(ts)
        return _bucket(score_h[keep], count_h[keep], bar[keep], len(ts), len(tickers))


def _bucket(score: Float64Array, count: Float64Array, bar: Int64Array, n_t: int,
            n: int) -> tuple[Float64Array, Float64Array]:
    weight = np.where(np.isfinite(score), count, 0.0)
    total, counts = np.zeros((n_t, n)), np.zeros((n_t, n))
    np.add.at(total, bar, np.nan_to_num(score) * weight)
    np.add.at(counts, bar, weight)
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, total / np.maximum(counts, 1e-12), np.nan), counts


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
