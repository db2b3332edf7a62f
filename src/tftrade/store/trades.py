"""The trade list: :class:`~tftrade.core.orders.TradeRecord` rows in ``trade_executions``.

Prices are written as ``Decimal`` quantised half-even to 4 places (exact on both backends,
see :mod:`tftrade.store.coltypes`); P&L and commission likewise into ``NUMERIC(14,4)``; the
rationale of the decision is kept as text (migration 0003).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import OperationalError

from tftrade.core.errors import DataError, StoreError
from tftrade.core.orders import TRADE_ACTIONS, TradeRecord
from tftrade.core.types import PRICE_SCALE
from tftrade.store.schema import trade_executions

_QUANTUM = Decimal(1).scaleb(-PRICE_SCALE)
_MAX_PNL = Decimal(10) ** 10  # NUMERIC(14, 4): 10 digits before the point
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COLUMNS = ["id", "ticker", "action", "quantity", "price", "timestamp", "order_id", "strategy_version", "pnl",
            "commission", "rationale"]


class TradeRecordError(DataError):
    """A trade record cannot be stored as it is (fractional shares, bad price, too long a field)."""


#: Attempts and first back-off (seconds, doubled each time) when the database reports a lock.
LOCK_RETRIES, LOCK_BACKOFF = 6, 0.2


def write_trades(engine: Engine, records: Sequence[TradeRecord],
                 publish: Callable[[], Callable[[], None]] | None = None,
                 within: Callable[[Connection], object] | None = None) -> int:
    """Insert ``records`` into ``trade_executions`` in one transaction; return the number written.

    ``publish`` runs inside the transaction, after the insert and before the commit (a backtest
    renames its run folder into place there); it returns an undo that runs if the commit then
    fails, so the rows and whatever ``publish`` made exist together or not at all. ``within``
    writes more rows in the same transaction (a backtest's audit chain), before ``publish``. A
    locked database (SQLite's ``database is locked``) is retried with back-off.

    Raises
    ------
    TradeRecordError
        If any record is invalid (nothing is written then): a fractional share count, a
        non-positive or non-finite price, a P&L outside ``NUMERIC(14,4)``, or a field too long.
    StoreError
        If the database stays locked through every retry (nothing is written then).
    """
    rows = [_row(i, r) for i, r in enumerate(records)]
    if not rows and within is None:
        if publish is not None:
            publish()
        return 0
    delay = LOCK_BACKOFF
    for attempt in range(LOCK_RETRIES):
        undo: Callable[[], None] | None = None
        try:
            with engine.begin() as conn:
                if rows:
                    conn.execute(insert(trade_executions), rows)
                if within is not None:
                    within(conn)
                if publish is not None:
                    undo = publish()
            return len(rows)
        except BaseException as e:
            if undo is not None:
                undo()
            if not (isinstance(e, OperationalError) and is_locked(e)):
                raise
            if attempt == LOCK_RETRIES - 1:
                raise StoreError(f"database stayed locked through {LOCK_RETRIES} attempts to write "
                                 f"{len(rows)} trades; nothing was written") from None
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def is_locked(error: OperationalError) -> bool:
    """Whether ``error`` is a transient lock (SQLite ``database is locked`` / ``busy``)."""
    text = str(error.orig or error).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


def read_trades(engine: Engine, ticker: str | None = None) -> pd.DataFrame:
    """Stored trades (of ``ticker`` if given) in time order; prices and P&L as exact ``Decimal``."""
    query = select(*(trade_executions.c[c] for c in _COLUMNS)).order_by(trade_executions.c.timestamp,
                                                                         trade_executions.c.id)
    if ticker is not None:
        query = query.where(trade_executions.c.ticker == ticker)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=_COLUMNS)
    for col in ("pnl", "commission"):
        frame[col] = [None if v is None else Decimal(v).quantize(_QUANTUM) for v in frame[col]]
    return frame.astype({"id": "int64", "quantity": "int64"})


def ns_to_datetime(timestamp_ns: int) -> datetime:
    """Epoch nanoseconds as an aware UTC datetime (truncated to microseconds, the databases' resolution)."""
    return _EPOCH + timedelta(microseconds=timestamp_ns // 1000)


def _row(i: int, r: TradeRecord) -> dict[str, Any]:
    where = f"trade record {i} ({r.ticker} {r.action} order {r.order_id!r})"
    exact_qty = r.quantity if r.exact_quantity is None else r.exact_quantity
    if not math.isfinite(exact_qty) or abs(exact_qty - round(exact_qty)) > 1e-9 or round(exact_qty) != r.quantity:
        raise TradeRecordError(f"{where}: quantity {exact_qty!r} is not a whole number of shares "
                               f"(trade_executions.quantity is an integer)")
    if r.action not in TRADE_ACTIONS:
        raise TradeRecordError(f"{where}: action must be one of {', '.join(TRADE_ACTIONS)}")
    if not (math.isfinite(r.price) and r.price > 0):
        raise TradeRecordError(f"{where}: price {r.price!r} must be positive and finite")
    for field, limit in (("ticker", 16), ("order_id", 255), ("strategy_version", 50)):
        if len(getattr(r, field)) > limit:
            raise TradeRecordError(f"{where}: {field} is longer than {limit} characters")
    return {"ticker": r.ticker, "action": r.action, "quantity": int(r.quantity), "price": _quantise(r.price),
            "timestamp": ns_to_datetime(r.timestamp_ns), "order_id": r.order_id,
            "strategy_version": r.strategy_version, "pnl": _pnl(where, r.pnl),
            "commission": _pnl(where, r.commission), "rationale": r.rationale or None}


def _quantise(x: float) -> Decimal:
    return Decimal(repr(x)).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


def _pnl(where: str, pnl: float | None) -> Decimal | None:
    if pnl is None:
        return None
    if not math.isfinite(pnl):
        raise TradeRecordError(f"{where}: pnl {pnl!r} is not finite")
    value = _quantise(pnl)
    if abs(value) >= _MAX_PNL:
        raise TradeRecordError(f"{where}: pnl {pnl!r} does not fit NUMERIC(14,4)")
    return value
