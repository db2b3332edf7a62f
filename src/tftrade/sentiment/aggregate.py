"""Aggregate scored mentions per ticker and time window.

For every ticker and window (``1min``, ``5min``, ``1h``, ``1d``; windows start
at multiples of their length in UTC) the aggregate holds the bullish
(score > 0.3), bearish (score < -0.3) and neutral counts, their total, the
average score weighted by the noise weight :math:`w_i` of each comment
(:mod:`tftrade.sentiment.noise`; 1 when there is no noise control) and the
upvote-weighted average with weights :math:`w_i \\max(u_i, 1)`:

.. math:: \\bar s = \\frac{\\sum_i w_i s_i}{\\sum_i w_i}, \\qquad
          \\bar s_u = \\frac{\\sum_i w_i \\max(u_i,1) s_i}{\\sum_i w_i \\max(u_i,1)}

Percentages sum to exactly 100.00 (largest remainder,
:func:`calculate_exact_sentiment_percentages`). Windows between a ticker's
first and last mention that hold no comment are emitted explicitly with zero
counts and ``None`` averages and percentages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine, select

from tftrade.sentiment.errors import SentimentError
from tftrade.sentiment.scorer import label_codes
from tftrade.store.engine import upsert_insert
from tftrade.store.schema import reddit_sentiment_aggregated

Window = Literal["1min", "5min", "1h", "1d"]
WINDOWS: tuple[str, ...] = get_args(Window)
_FREQ = {"1min": "1min", "5min": "5min", "1h": "1h", "1d": "1D"}
AGGREGATE_COLUMNS = (
    "ticker", "window", "time_window", "bullish_count", "bearish_count", "neutral_count", "total_comments",
    "avg_sentiment", "weighted_sentiment", "bullish_pct", "bearish_pct", "neutral_pct", "effective_comments",
)
_CENT = Decimal("0.01")
F64 = npt.NDArray[np.float64]


def calculate_exact_sentiment_percentages(
    bullish: int, bearish: int, neutral: int
) -> tuple[Decimal, Decimal, Decimal] | None:
    """Return bullish, bearish and neutral percentages to 2 decimals that sum to exactly 100.

    Each share is floored to a hundredth of a percent; the hundredths left over
    go, one each, to the shares with the largest remainders (ties: bullish,
    bearish, neutral). With no comments there is no share to report: ``None``.

    Raises
    ------
    SentimentError
        If a count is negative.

    Examples
    --------
    >>> calculate_exact_sentiment_percentages(1, 1, 1)
    (Decimal('33.34'), Decimal('33.33'), Decimal('33.33'))
    >>> calculate_exact_sentiment_percentages(2, 0, 1)
    (Decimal('66.67'), Decimal('0.00'), Decimal('33.33'))
    >>> calculate_exact_sentiment_percentages(0, 0, 0) is None
    True
    """
    counts = (bullish, bearish, neutral)
    if min(counts) < 0:
        raise SentimentError(f"sentiment counts must be >= 0, got bullish={bullish}, bearish={bearish}, "
                             f"neutral={neutral}")
    total = sum(counts)
    if total == 0:
        return None
    units = [c * 10_000 // total for c in counts]
    remainders = [c * 10_000 % total for c in counts]
    for k in sorted(range(3), key=lambda j: (-remainders[j], j))[: 10_000 - sum(units)]:
        units[k] += 1
    pct = tuple(Decimal(u) * _CENT for u in units)
    return pct[0], pct[1], pct[2]


def _check_window(window: str) -> None:
    if window not in _FREQ:
        raise SentimentError(f"unknown window {window!r}; expected one of {list(WINDOWS)}")


def window_start(times: pd.Series, window: str) -> pd.Series:
    """Return the start of the ``window`` each UTC time falls in.

    Raises
    ------
    SentimentError
        If ``window`` is not one of :data:`WINDOWS`.
    """
    _check_window(window)
    return pd.to_datetime(times, utc=True).dt.floor(_FREQ[window])


@dataclass(frozen=True)
class AggregateResult:
    """What :func:`aggregate` produced."""

    window: str
    frame: pd.DataFrame
    tickers: int
    windows: int
    empty_windows: int


def aggregate(mentions: pd.DataFrame, window: str, *, fill_empty: bool = True) -> AggregateResult:
    """Aggregate scored mentions per ticker and ``window``.

    Parameters
    ----------
    mentions
        Columns ``ticker``, ``timestamp`` (UTC), ``sentiment_score``; optional
        ``upvotes`` (default 1) and ``weight`` (noise weight, default 1).
    window
        One of :data:`WINDOWS`.
    fill_empty
        Emit windows without comments between each ticker's first and last mention.

    Returns
    -------
    AggregateResult
        ``frame`` has the columns :data:`AGGREGATE_COLUMNS`, sorted by ticker and window.

    Examples
    --------
    >>> m = pd.DataFrame({"ticker": ["X", "X", "X"], "sentiment_score": [0.5, -0.5, 0.0],
    ...                   "timestamp": pd.to_datetime(["2024-01-02 14:30:10", "2024-01-02 14:30:50",
    ...                                                "2024-01-02 14:32:00"], utc=True)})
    >>> aggregate(m, "1min").frame[["total_comments", "bullish_pct", "avg_sentiment"]].to_numpy().tolist()
    [[2, Decimal('50.00'), 0.0], [0, None, None], [1, Decimal('0.00'), 0.0]]
    """
    frame = _prepared(mentions, window)
    grouped = frame.groupby(["ticker", "time_window"], sort=True)
    sums = grouped[["bull", "bear", "neut", "w", "ws", "wu", "wus"]].sum()
    sums["total"] = grouped.size()
    if fill_empty and len(sums):
        sums = _fill_empty(sums, window)
    out = _finish(sums, window)
    empty = int((out["total_comments"] == 0).sum())
    return AggregateResult(window, out, int(out["ticker"].nunique()), len(out), empty)


def _prepared(mentions: pd.DataFrame, window: str) -> pd.DataFrame:
    missing = {"ticker", "timestamp", "sentiment_score"} - set(mentions.columns)
    if missing:
        raise SentimentError(f"mentions lack columns {sorted(missing)}; got {list(mentions.columns)}")
    score = mentions["sentiment_score"].astype(float).to_numpy()
    codes = label_codes(score)
    w = mentions["weight"].astype(float).to_numpy() if "weight" in mentions else np.ones(len(mentions))
    up = mentions["upvotes"].fillna(1).astype(float).to_numpy() if "upvotes" in mentions else np.ones(len(mentions))
    wu = w * np.maximum(up, 1.0)
    return pd.DataFrame({
        "ticker": mentions["ticker"].astype(str).to_numpy(),
        "time_window": window_start(mentions["timestamp"], window).to_numpy(),
        "bull": (codes == 1).astype(int), "bear": (codes == -1).astype(int), "neut": (codes == 0).astype(int),
        "w": w, "ws": w * score, "wu": wu, "wus": wu * score,
    })


def _fill_empty(sums: pd.DataFrame, window: str) -> pd.DataFrame:
    """Add zero-comment windows between each ticker's first and last mention.

    For intraday windows only windows that overlap a trading session are added (nights,
    weekends and holidays stay absent unless someone wrote then); ``1d`` fills every day.
    """
    pieces = []
    all_times = sums.index.get_level_values("time_window")
    session = _session_filter(all_times.min(), all_times.max(), window)
    for ticker, part in sums.groupby(level="ticker", sort=True):
        times = part.index.get_level_values("time_window")
        full = pd.date_range(times.min(), times.max(), freq=_FREQ[window], tz="UTC")
        full = full[session(full) | full.isin(times)]
        idx = pd.MultiIndex.from_product([[ticker], full], names=["ticker", "time_window"])
        pieces.append(part.reindex(idx, fill_value=0))
    return pd.concat(pieces)


def _session_filter(first: pd.Timestamp, last: pd.Timestamp,
                    window: str) -> Callable[[pd.DatetimeIndex], npt.NDArray[np.bool_]]:
    """A mask function: which window starts overlap an XNYS session (all True for ``1d``)."""
    if window == "1d":
        return lambda idx: np.ones(len(idx), dtype=bool)
    from tftrade.core.calendar import TradingCalendar

    cal = TradingCalendar((first - pd.Timedelta(days=1)).date(), (last + pd.Timedelta(days=1)).date())
    span = pd.Timedelta(_FREQ[window]).value - 60_000_000_000

    def mask(idx: pd.DatetimeIndex) -> npt.NDArray[np.bool_]:
        start = np.asarray(idx.as_unit("ns").asi8, dtype=np.int64)
        return cal.in_session(start) | cal.in_session(start + span)

    return mask


def _finish(sums: pd.DataFrame, window: str) -> pd.DataFrame:
    sums = sums.reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(sums["w"] > 0, sums["ws"] / sums["w"], np.nan)
        wavg = np.where(sums["wu"] > 0, sums["wus"] / sums["wu"], np.nan)
    pcts = [calculate_exact_sentiment_percentages(int(b), int(r), int(n))
            for b, r, n in zip(sums["bull"], sums["bear"], sums["neut"], strict=True)]
    return pd.DataFrame({
        "ticker": sums["ticker"].astype(str),
        "window": window,
        "time_window": pd.to_datetime(sums["time_window"], utc=True),
        "bullish_count": sums["bull"].astype(int),
        "bearish_count": sums["bear"].astype(int),
        "neutral_count": sums["neut"].astype(int),
        "total_comments": sums["total"].astype(int),
        "avg_sentiment": _optional(avg),
        "weighted_sentiment": _optional(wavg),
        "bullish_pct": [p[0] if p else None for p in pcts],
        "bearish_pct": [p[1] if p else None for p in pcts],
        "neutral_pct": [p[2] if p else None for p in pcts],
        "effective_comments": sums["w"].astype(float).round(3),
    })


def panel(frame: pd.DataFrame, times: npt.ArrayLike, tickers: list[str], column: str = "avg_sentiment") -> F64:
    """Return ``column`` of an aggregate frame as a time × ticker array on the given window starts.

    Windows or tickers without a value are NaN; this is the shape
    :func:`tftrade.features.sentiment.sentiment_features` takes (``avg_sentiment`` as the score,
    ``total_comments`` or ``effective_comments`` as the count).

    Examples
    --------
    >>> m = pd.DataFrame({"ticker": ["X"], "sentiment_score": [0.5],
    ...                   "timestamp": pd.to_datetime(["2024-01-02 14:31:10"], utc=True)})
    >>> t = pd.to_datetime(["2024-01-02 14:30", "2024-01-02 14:31"], utc=True)
    >>> panel(aggregate(m, "1min").frame, t, ["X", "Y"]).tolist()
    [[nan, nan], [0.5, nan]]
    """
    index = pd.to_datetime(np.asarray(times), utc=True)
    wide = frame.pivot(index="time_window", columns="ticker", values=column) if len(frame) else pd.DataFrame()
    out: F64 = wide.reindex(index=index, columns=tickers).to_numpy(dtype=float)
    return out


def stored_panel(engine: Engine, times: npt.ArrayLike, tickers: list[str], window: str = "1min") -> tuple[F64, F64]:
    """Return ``(score, count)`` time × ticker arrays of the stored aggregates, for the forecaster.

    ``score`` is ``avg_sentiment`` (NaN where a window has no comment or no row), ``count`` is
    ``total_comments`` (0 there), on the window starts ``times``: exactly the arguments of
    :func:`tftrade.features.sentiment.sentiment_features`. A window starting at ``t`` holds the
    comments made in ``[t, t + window)``, the convention of the bars (a bar starting at ``t``
    sees them), so ``times`` should be the bar starts of the same length as ``window``.

    Raises
    ------
    SentimentError
        If ``window`` is not one of :data:`WINDOWS`.
    """
    _check_window(window)
    index = pd.to_datetime(np.asarray(times), utc=True)
    t = reddit_sentiment_aggregated
    q = (select(t.c.ticker, t.c.time_window, t.c.avg_sentiment, t.c.total_comments)
         .where(t.c.window == window, t.c.ticker.in_(list(tickers))))
    if len(index):
        q = q.where(t.c.time_window >= index.min().to_pydatetime(), t.c.time_window <= index.max().to_pydatetime())
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(q).all(), columns=["ticker", "time_window", "avg_sentiment",
                                                               "total_comments"])
    frame["time_window"] = pd.to_datetime(frame["time_window"], utc=True)
    frame["avg_sentiment"] = pd.to_numeric(frame["avg_sentiment"], errors="coerce").astype(float)
    score = panel(frame, index, tickers, "avg_sentiment")
    count = np.nan_to_num(panel(frame, index, tickers, "total_comments"), nan=0.0)
    return score, count


def _optional(values: np.ndarray) -> pd.Series:
    return pd.Series([None if np.isnan(a) else round(float(a), 3) for a in values], dtype=object)


def write_aggregates(engine: Engine, frame: pd.DataFrame) -> int:
    """Upsert aggregate rows into ``reddit_sentiment_aggregated``; return the rows written.

    Running it twice with the same frame leaves the table as after the first run.
    """
    cols = [c for c in AGGREGATE_COLUMNS if c != "effective_comments"]
    records = [
        {c: (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v) for c, v in zip(cols, row, strict=True)}
        for row in frame[cols].itertuples(index=False, name=None)
    ]
    if not records:
        return 0
    insert = upsert_insert(engine)
    stmt = insert(reddit_sentiment_aggregated)
    update = {c: stmt.excluded[c] for c in cols if c not in ("ticker", "window", "time_window")}
    stmt = stmt.on_conflict_do_update(index_elements=["ticker", "window", "time_window"], set_=update)
    with engine.begin() as conn:
        for k in range(0, len(records), 5_000):
            conn.execute(stmt, records[k: k + 5_000])
    return len(records)


def read_aggregates(engine: Engine, window: str, ticker: str | None = None) -> pd.DataFrame:
    """Read stored aggregates of ``window`` (optionally one ticker), sorted by ticker and time."""
    t = reddit_sentiment_aggregated
    q = select(t).where(t.c.window == window).order_by(t.c.ticker, t.c.time_window)
    if ticker is not None:
        q = q.where(t.c.ticker == ticker)
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(q).mappings().all())
