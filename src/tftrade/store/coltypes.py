"""Column types that keep prices exact and times in UTC on every backend.

``Price`` is ``NUMERIC(18, 4)`` on PostgreSQL and an integer count of 1/10,000
units on SQLite (which has no exact decimal type), so a price read back is the
same :class:`~decimal.Decimal` that was written, on both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

from tftrade.core.types import PRICE_SCALE

TICKS_PER_UNIT = 10**PRICE_SCALE
_QUANTUM = Decimal(1).scaleb(-PRICE_SCALE)


class Price(TypeDecorator[Decimal]):
    """An exact price with four decimal places."""

    impl = Numeric(18, PRICE_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, PRICE_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        exact = exact.quantize(_QUANTUM)
        if dialect.name == "sqlite":
            return int(exact.scaleb(PRICE_SCALE))
        return exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-PRICE_SCALE).quantize(_QUANTUM)
        return Decimal(value).quantize(_QUANTUM)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp.

    ``TIMESTAMPTZ`` on PostgreSQL; on SQLite an integer count of microseconds since the
    Unix epoch (compact, exact, and fast to index). Text that SQLite's own
    ``CURRENT_TIMESTAMP`` default writes is read back too.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: tftrade stores only timezone-aware times")
        value = value.astimezone(UTC)
        return to_epoch_us(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, int):
            return _EPOCH + timedelta(microseconds=value)
        stamp: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=UTC)
        return stamp.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_epoch_us(value: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact integer arithmetic)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
