"""Read the newest stored forecast of each ticker and horizon (what the API serves at start-up)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, and_, func, select

from tftrade.store.schema import tft_predictions


def latest_predictions(engine: Engine, tickers: list[str] | None = None) -> list[dict[str, Any]]:
    """Return the rows of each ticker's newest ``as_of``, one per horizon, ordered by ticker and horizon."""
    t = tft_predictions
    newest = select(t.c.ticker, func.max(t.c.as_of).label("as_of")).group_by(t.c.ticker)
    if tickers:
        newest = newest.where(t.c.ticker.in_([x.upper() for x in tickers]))
    sub = newest.subquery()
    query = (select(t).join(sub, and_(t.c.ticker == sub.c.ticker, t.c.as_of == sub.c.as_of))
             .order_by(t.c.ticker, t.c.horizon, t.c.id))
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows:  # a re-run of predict at the same bar: the last written row wins
        latest[(r["ticker"], r["horizon"])] = r
    return list(latest.values())
