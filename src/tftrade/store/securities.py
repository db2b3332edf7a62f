"""The securities master: ticker, name, sector, optional market cap."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, select

from tftrade.core.types import Security
from tftrade.store.engine import upsert_insert
from tftrade.store.schema import securities


def upsert_securities(conn: Connection, items: Iterable[Security]) -> int:
    """Insert or update securities by ticker; returns how many were written."""
    rows = [{"ticker": s.ticker.upper(), "name": s.name, "sector": s.sector, "market_cap": s.market_cap,
             "updated_at": datetime.now(UTC)} for s in items]
    if not rows:
        return 0
    insert = upsert_insert(conn)
    stmt = insert(securities)
    stmt = stmt.on_conflict_do_update(
        index_elements=[securities.c.ticker],
        set_={c: stmt.excluded[c] for c in ("name", "sector", "market_cap", "updated_at")},
    )
    conn.execute(stmt, rows)
    return len(rows)


def read_securities(engine: Engine) -> list[Security]:
    """Every security in the master, by ticker."""
    with engine.connect() as conn:
        rows = conn.execute(select(securities).order_by(securities.c.ticker)).all()
    return [Security(r.ticker, r.name, r.sector, r.market_cap) for r in rows]
