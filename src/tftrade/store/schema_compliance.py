"""Tables of :mod:`tftrade.compliance`: the hash-chained audit log and imported tax history.

``audit_log`` is append-only: on PostgreSQL and SQLite a trigger refuses UPDATE and DELETE
(migration 0009), and every row carries the SHA-256 of the previous one, so an edit made
around the trigger is still found by ``tftrade audit verify``. ``audit_order_refs`` indexes
which entries concern which order (the ids are inside the hashed entry too).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Column, Date, Dialect, Index, Integer, Numeric, String, Table, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator, TypeEngine

from tftrade.store.schema import metadata


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal: ``NUMERIC(28, 10)`` on PostgreSQL, its text on SQLite (which has no exact decimal)."""

    impl = Numeric(28, 10)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(28, 10, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal | int):
            raise TypeError(f"exact decimal column given a {type(value).__name__}; pass a Decimal")
        return str(Decimal(value)) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value) if isinstance(value, str) else Decimal(value).normalize()


audit_log = Table(
    "audit_log",
    metadata,
    Column("chain", String(64), primary_key=True),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
)

audit_order_refs = Table(
    "audit_order_refs",
    metadata,
    Column("chain", String(64), primary_key=True),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("order_id", String(255), primary_key=True),
    Index(None, "order_id"),
)

tax_transactions = Table(
    "tax_transactions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("txn_id", String(128), nullable=False),
    Column("account", String(64), nullable=False),
    Column("ticker", String(32), nullable=False),
    Column("trade_date", Date, nullable=False),
    Column("side", String(8), nullable=False),
    Column("quantity", ExactDecimal, nullable=False),
    Column("price", ExactDecimal, nullable=False),
    Column("fees", ExactDecimal, nullable=False),
    Column("lots", Text, nullable=True),
    Column("source", String(512), nullable=False),
    UniqueConstraint("account", "txn_id"),
    Index(None, "ticker", "trade_date"),
)
"""Broker history imported with ``tftrade tax import`` (``txn_id``: the file's id, or a hash of the row)."""

tax_splits = Table(
    "tax_splits",
    metadata,
    Column("ticker", String(32), primary_key=True),
    Column("effective", Date, primary_key=True),
    Column("ratio", ExactDecimal, nullable=False),
    Column("source", String(512), nullable=False),
)

tax_accounts = Table(
    "tax_accounts",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("account_type", String(8), nullable=False),
    Column("source", String(512), nullable=False),
)
"""The type of each account of the tax history: ``taxable`` or ``ira`` (migration 0012); unlisted = taxable."""

__all__ = ["ExactDecimal", "audit_log", "audit_order_refs", "tax_accounts", "tax_splits", "tax_transactions"]
