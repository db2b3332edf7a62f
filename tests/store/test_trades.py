"""Trade records round-trip exactly on SQLite and PostgreSQL; bad records are refused whole."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from tftrade.core.orders import TradeRecord
from tftrade.store.trades import TradeRecordError, ns_to_datetime, read_trades, write_trades

T0 = 1_704_205_800_123_456_789  # 2024-01-02 14:30:00.123456789 UTC


def _rec(ticker: str, action: str, qty: int, price: float, ts: int, pnl: float | None,
         exact_qty: float | None = None) -> TradeRecord:
    return TradeRecord(ticker, action, qty, price, ts, f"{ticker}-{ts}", "sma-1", pnl, 1.25, "why",  # type: ignore[arg-type]
                       exact_qty)


def test_write_and_read_trades_exactly(any_engine: Engine) -> None:
    records = [
        _rec("AAPL", "BUY", 100, 185.12345, T0, None),  # 5 decimals -> half-even to 185.1234
        _rec("MSFT", "SHORT", 7, 0.1 + 0.2, T0 + 60_000_000_000, None),
        _rec("AAPL", "SELL", 100, 190.5, T0 + 120_000_000_000, 537.6549999),
        _rec("MSFT", "COVER", 7, 401.0001, T0 + 180_000_000_000, -2809.4901, exact_qty=7.0),
        _rec("AAPL", "BUY", 3, 9999.9999, T0 + 240_000_000_000, None),
    ]
    assert write_trades(any_engine, records) == 5
    frame = read_trades(any_engine)
    assert list(frame["ticker"]) == ["AAPL", "MSFT", "AAPL", "MSFT", "AAPL"]
    assert list(frame["action"]) == ["BUY", "SHORT", "SELL", "COVER", "BUY"]
    assert list(frame["quantity"]) == [100, 7, 100, 7, 3]
    assert list(frame["price"]) == [Decimal("185.1234"), Decimal("0.3000"), Decimal("190.5000"),
                                    Decimal("401.0001"), Decimal("9999.9999")]
    assert list(frame["pnl"]) == [None, None, Decimal("537.6550"), Decimal("-2809.4901"), None]
    assert frame["timestamp"].iloc[0] == datetime(2024, 1, 2, 14, 30, 0, 123456, tzinfo=UTC)
    assert list(frame["order_id"])[:2] == [f"AAPL-{T0}", f"MSFT-{T0 + 60_000_000_000}"]
    assert set(frame["strategy_version"]) == {"sma-1"}
    assert set(frame["commission"]) == {Decimal("1.2500")} and set(frame["rationale"]) == {"why"}
    aapl = read_trades(any_engine, ticker="AAPL")
    assert list(aapl["quantity"]) == [100, 100, 3] and aapl["price"].iloc[2] == Decimal("9999.9999")
    assert read_trades(any_engine, ticker="NONE").empty


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (_rec("A", "BUY", 10, 10.0, T0, None, exact_qty=10.4), "not a whole number"),
        (_rec("A", "BUY", 10, -1.0, T0, None), "price -1.0"),
        (_rec("A", "SELL", 10, 10.0, T0, 1e11), "NUMERIC"),
        (_rec("A" * 17, "BUY", 1, 10.0, T0, None), "ticker is longer than 16"),
    ],
)
def test_bad_records_are_refused_and_nothing_is_written(sqlite_engine: Engine, bad: TradeRecord,
                                                        message: str) -> None:
    good = _rec("A", "BUY", 1, 10.0, T0, None)
    with pytest.raises(TradeRecordError, match=message):
        write_trades(sqlite_engine, [good, bad])
    assert read_trades(sqlite_engine).empty
    assert write_trades(sqlite_engine, []) == 0


def test_ns_to_datetime_truncates_to_microseconds() -> None:
    assert ns_to_datetime(1_999) == datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert ns_to_datetime(T0).microsecond == 123456
