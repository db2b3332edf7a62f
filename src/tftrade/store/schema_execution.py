"""Tables of the order-intent journal (migration 0008).

``order_intents`` holds one row per order we decided to place, written *before* the
broker hears of it; ``order_events`` is append-only: every state change after the intent
(submitted, accepted, partial fill, fill, cancelled, rejected, unknown, adopted, ...).
Quantities and prices are exact decimal text (``"12.5"``), the same on every backend.
No credential is ever stored here.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint

from tftrade.store.schema import metadata

order_intents = Table(
    "order_intents",
    metadata,
    Column("client_order_id", String(64), primary_key=True),
    Column("ticker", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", String(40), nullable=False),
    Column("order_type", String(8), nullable=False),
    Column("limit_price", String(40), nullable=True),
    Column("time_in_force", String(8), nullable=False),
    Column("decision_id", String(64), nullable=False),
    Column("tag", String(32), nullable=False),
    Column("broker", String(16), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("rationale", Text, nullable=True),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_order_id", String(64), nullable=False),
    Column("event", String(24), nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    Column("broker_order_id", String(64), nullable=True),
    Column("execution_id", String(64), nullable=True),
    Column("fill_quantity", String(40), nullable=True),
    Column("fill_price", String(40), nullable=True),
    Column("commission", String(40), nullable=True),
    Column("filled_quantity", String(40), nullable=True),
    Column("reason", Text, nullable=True),
    UniqueConstraint("client_order_id", "execution_id"),
    Index(None, "client_order_id"),
)

__all__ = ["order_events", "order_intents"]
