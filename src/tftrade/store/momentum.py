"""Sentiment momentum rows: write (idempotent upsert) and read ``reddit_sentiment_momentum``.

The rows come from :func:`tftrade.sentiment.momentum.momentum` (``tftrade sentiment momentum``):
per ticker and window start, the comment-volume z-score (``None`` until the trailing
baseline has enough windows), the fast and slow EWMA of the sentiment, the crossover
event (+1, -1 or 0) and the burst flag. Writing the same rows twice leaves the table
as after the first write; a row recomputed with more history replaces the stored one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Integer, select, type_coerce

from tftrade.core.errors import DataError
from tftrade.store.engine import upsert_insert
from tftrade.store.schema import reddit_sentiment_momentum

MOMENTUM_ROW_COLUMNS = ("ticker", "window", "window_start", "volume_z", "ewma_fast", "ewma_slow", "crossover",
                        "burst")
"""Columns of a momentum frame as stored and as :func:`read_momentum` returns them."""

_KEY = ("ticker", "window", "window_start")
_CHUNK = 5_000


def write_momentum(engine: Engine, frame: pd.DataFrame) -> int:
    """Upsert momentum rows (columns :data:`MOMENTUM_ROW_COLUMNS`); return how many rows were written.

    Raises
    ------
    DataError
        If columns are missing, a window start is not a timezone-aware time, or a
        crossover is not -1, 0 or 1.
    StoreError
        If the database is neither SQLite nor PostgreSQL.
    """
    missing = set(MOMENTUM_ROW_COLUMNS) - set(frame.columns)
    if missing:
        raise DataError(f"momentum rows lack columns {sorted(missing)}; got {list(frame.columns)}")
    if frame.empty:
        return 0
    starts = pd.to_datetime(frame["window_start"])
    if starts.dt.tz is None:
        raise DataError("momentum window_start must be timezone-aware (UTC); got naive times")
    cross = frame["crossover"].astype(int)
    if not cross.isin((-1, 0, 1)).all():
        raise DataError(f"momentum crossover must be -1, 0 or 1; got {sorted(set(cross) - {-1, 0, 1})}")
    records = [
        {"ticker": str(t), "window": str(w), "window_start": s.to_pydatetime(), "volume_z": _maybe(z),
         "ewma_fast": float(f), "ewma_slow": float(sl), "crossover": int(c), "burst": bool(b)}
        for t, w, s, z, f, sl, c, b in zip(frame["ticker"], frame["window"], starts.dt.tz_convert("UTC"),
                                           frame["volume_z"], frame["ewma_fast"], frame["ewma_slow"], cross,
                                           frame["burst"], strict=True)
    ]
    insert = upsert_insert(engine)
    stmt = insert(reddit_sentiment_momentum)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={c: stmt.excluded[c] for c in MOMENTUM_ROW_COLUMNS if c not in _KEY},
    )
    with engine.begin() as conn:
        for k in range(0, len(records), _CHUNK):
            conn.execute(stmt, records[k: k + _CHUNK])
    return len(records)


def read_momentum(
    engine: Engine,
    tickers: Sequence[str] | None = None,
    window: str = "5min",
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Read stored momentum rows of ``window``, sorted by ticker and window start.

    ``start`` and ``end`` bound the window start (both inclusive, timezone-aware).
    Columns: :data:`MOMENTUM_ROW_COLUMNS`; ``window_start`` as UTC timestamps,
    ``volume_z`` NaN where it was not yet defined, ``burst`` boolean.

    Raises
    ------
    DataError
        If ``start`` or ``end`` is a naive datetime.
    """
    t = reddit_sentiment_momentum
    time_col = (type_coerce(t.c.window_start, Integer).label("window_start") if engine.dialect.name == "sqlite"
                else t.c.window_start)
    cols = [t.c.ticker, t.c.window, time_col, t.c.volume_z, t.c.ewma_fast, t.c.ewma_slow, t.c.crossover, t.c.burst]
    q = select(*cols).where(t.c.window == window).order_by(t.c.ticker, t.c.window_start)
    if tickers is not None:
        q = q.where(t.c.ticker.in_([s.upper() for s in tickers]))
    for bound, op in ((start, "start"), (end, "end")):
        if bound is not None and bound.tzinfo is None:
            raise DataError(f"read_momentum {op}={bound!r} is naive; pass a timezone-aware time")
    if start is not None:
        q = q.where(t.c.window_start >= start)
    if end is not None:
        q = q.where(t.c.window_start <= end)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    frame = pd.DataFrame(rows, columns=list(MOMENTUM_ROW_COLUMNS))
    raw = frame["window_start"]
    frame["window_start"] = (pd.to_datetime(raw.astype("int64"), unit="us", utc=True)
                             if pd.api.types.is_integer_dtype(raw) else pd.to_datetime(raw, utc=True))
    frame["volume_z"] = frame["volume_z"].astype(float)
    frame["ewma_fast"] = frame["ewma_fast"].astype(float)
    frame["ewma_slow"] = frame["ewma_slow"].astype(float)
    frame["crossover"] = frame["crossover"].astype(int)
    frame["burst"] = frame["burst"].astype(bool)
    return frame


def _maybe(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) else v
