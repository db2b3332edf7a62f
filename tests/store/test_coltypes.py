"""Prices and times survive a round trip exactly on every backend."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, insert, select

from tftrade.store.schema import trade_executions


def test_prices_round_trip_exactly_and_times_come_back_in_utc(any_engine: Engine) -> None:
    prices = [Decimal("0.0001"), Decimal("123456.7891"), Decimal("185.1234"), Decimal("0.1") + Decimal("0.2")]
    t = datetime(2024, 3, 10, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))
    with any_engine.begin() as conn:
        conn.execute(insert(trade_executions), [
            {"ticker": "X", "action": "BUY", "quantity": 1, "price": p, "timestamp": t} for p in prices])
    with any_engine.connect() as conn:
        rows = conn.execute(select(trade_executions.c.price, trade_executions.c.timestamp)
                            .order_by(trade_executions.c.id)).all()
        total = conn.execute(select(func.sum(trade_executions.c.price))).scalar_one()
    assert [r.price for r in rows] == [p.quantize(Decimal("0.0001")) for p in prices]
    assert all(r.timestamp == t and r.timestamp.tzinfo is not None for r in rows)
    assert rows[0].timestamp.utcoffset() == timedelta(0)
    # Sums in SQL stay exact too (integer ticks on SQLite, NUMERIC on PostgreSQL).
    exact_sum = sum(p.quantize(Decimal("0.0001")) for p in prices)
    assert Decimal(total) == exact_sum


def test_naive_times_are_refused(sqlite_engine: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), sqlite_engine.begin() as conn:
        conn.execute(insert(trade_executions).values(ticker="X", action="BUY", quantity=1, price=Decimal(1),
                                                     timestamp=datetime(2024, 1, 1)))
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(trade_executions)).scalar_one() == 0
