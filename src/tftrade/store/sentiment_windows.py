"""Reading the stored sentiment aggregates (``reddit_sentiment_aggregated``) of a universe over a range, once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, select

from tftrade.store.schema import reddit_sentiment_aggregated

COLUMNS = ("ticker", "time_window", "avg_sentiment", "total_comments")


def read_sentiment_windows(
    engine: Engine, tickers: Sequence[str], window: str, start: datetime | None = None, end: datetime | None = None,
) -> pd.DataFrame:
    """Aggregates of ``window`` for ``tickers`` with ``start <= time_window <= end`` (either bound optional).

    Columns: ticker, time_window (UTC), avg_sentiment (float, NaN where no comment was scored),
    total_comments (int).
    """
    t = reddit_sentiment_aggregated
    q = (select(t.c.ticker, t.c.time_window, t.c.avg_sentiment, t.c.total_comments)
         .where(t.c.window == window, t.c.ticker.in_(list(tickers))))
    if start is not None:
        q = q.where(t.c.time_window >= start)
    if end is not None:
        q = q.where(t.c.time_window <= end)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(q).all(), columns=list(COLUMNS))
    frame["time_window"] = pd.to_datetime(frame["time_window"], utc=True)
    frame["avg_sentiment"] = pd.to_numeric(frame["avg_sentiment"], errors="coerce").astype(float)
    return frame
