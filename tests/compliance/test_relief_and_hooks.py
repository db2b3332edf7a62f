"""Lot relief methods, our own trades in the tax lots, and the audit hooks around a broker."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from tftrade.compliance.audit_broker import AuditedBroker, gate_result
from tftrade.compliance.audit_log import AuditLog, MemoryAuditLog
from tftrade.compliance.errors import AuditError, AuditTamperError, TaxLotError
from tftrade.compliance.ledger import build_ledger
from tftrade.compliance.tax_store import load_history
from tftrade.compliance.transactions import Transaction
from tftrade.core.orders import Order, TradeRecord
from tftrade.execution.paper import PaperBroker
from tftrade.risk.gate import Decision, GateResult
from tftrade.store.trades import write_trades


def _lots() -> list[Transaction]:
    return [Transaction("A", "X", date(2023, 1, 3), "buy", D(10), D(100), txn_id="old"),   # LT, gain at 150
            Transaction("A", "X", date(2024, 3, 1), "buy", D(10), D(200), txn_id="high"),  # ST loss at 150
            Transaction("A", "X", date(2024, 5, 1), "buy", D(10), D(140), txn_id="new")]   # ST gain at 150


@pytest.mark.parametrize(("method", "sold_lot"), [("fifo", "old"), ("lifo", "new"), ("hifo", "high"),
                                                  ("mintax", "high")])
def test_relief_methods_choose_the_expected_lot(method: str, sold_lot: str) -> None:
    sale = Transaction("A", "X", date(2024, 9, 3), "sell", D(10), D(150), txn_id="s")
    led = build_ledger([*_lots(), sale], method=method)  # type: ignore[arg-type]
    (d,) = led.dispositions()
    assert d.lot_id == sold_lot


def test_mintax_prefers_long_term_loss_then_short_term_loss_then_long_term_gain() -> None:
    txns = [Transaction("A", "X", date(2022, 1, 3), "buy", D(1), D(300), txn_id="lt_loss"),
            Transaction("A", "X", date(2022, 2, 3), "buy", D(1), D(100), txn_id="lt_gain"),
            Transaction("A", "X", date(2024, 6, 3), "buy", D(1), D(250), txn_id="st_loss"),
            Transaction("A", "X", date(2024, 7, 3), "buy", D(1), D(120), txn_id="st_gain"),
            Transaction("A", "X", date(2024, 9, 3), "sell", D(4), D(200), txn_id="s")]
    led = build_ledger(txns, method="mintax", wash_sales=False)
    assert [d.lot_id for d in led.dispositions()] == ["lt_loss", "st_loss", "lt_gain", "st_gain"]


def test_specific_identification() -> None:
    sale = Transaction("A", "X", date(2024, 9, 3), "sell", D(15), D(150), txn_id="s",
                       lots=(("new", D(10)), ("old", D(5))))
    led = build_ledger([*_lots(), sale], method="specific")
    assert [(d.lot_id, d.quantity) for d in led.dispositions()] == [("new", D(10)), ("old.1", D(5))]
    with pytest.raises(TaxLotError, match="add up to"):
        Transaction("A", "X", date(2024, 9, 3), "sell", D(15), D(150), lots=(("new", D(10)),))


def test_our_own_trades_are_tax_lots(sqlite_engine: Engine) -> None:
    def rec(action: str, q: int, price: float, day: int) -> TradeRecord:
        ts = int(datetime(2024, 3, day, 15, tzinfo=UTC).timestamp() * 1e9)
        return TradeRecord("X", action, q, price, ts, f"o{day}", "v1", None, 1.0)  # type: ignore[arg-type]

    write_trades(sqlite_engine, [rec("BUY", 10, 100.0, 1), rec("SELL", 10, 90.0, 4), rec("BUY", 10, 95.0, 12),
                                 rec("SHORT", 5, 95.0, 13)])
    history = load_history(sqlite_engine)
    assert len(history.transactions) == 4 and not history.notes  # the short sale is a short lot
    assert history.ledger().short_position("tftrade", "X") == 5
    (d,) = history.ledger().dispositions()
    assert d.account == "tftrade" and d.disallowed == D(102)  # 100 + 1 fee loss, re-bought 8 days later
    lots = history.ledger().open_lots()
    assert sum(lot.basis for lot in lots) == D(950 + 1 + 102)
    # shorting 5 while holding 10 bought 1 day before: 5 of them start their holding period at the cover
    assert sorted((lot.quantity, lot.suspended_by) for lot in lots) == [(5, ""), (5, "te-4")]


def test_audited_broker_records_intents_states_fills_and_gate() -> None:
    log = MemoryAuditLog()
    broker = AuditedBroker(PaperBroker(cash=100_000.0), log)
    broker.submit(Order("X-1", "X", 10.0))
    fills = broker.broker.on_bar(1, ["X"], np.array([10.0]), np.array([10.5]), np.array([9.5]),  # type: ignore[attr-defined]
                                 np.array([10.2]), np.array([1e6]))
    broker.record_fills(fills)
    result = GateResult(np.array([10.0, 0.0]), (Decision(0, "resize", 20.0, 10.0, ("max_weight",)),
                                                Decision(1, "reject", 5.0, 0.0, ("vix",))), ("none",))
    gate_result(log, result, ["X", "Y"], ["X-1", None])
    kinds = [e.kind for e in log.story("X-1")]
    assert kinds == ["order_intent", "order_intent", "fill", "risk_check"]
    assert log.entries()[-1].payload["action"] == "rejected" and log.verify().ok


def test_backtest_chain_adopted_into_the_database(sqlite_engine: Engine) -> None:
    mem = MemoryAuditLog("bt-1")
    mem.append("note", {"run": "bt-1"}, order_ids=["o"])
    mem.append("fill", {"q": "1"}, order_ids=["o"])
    db = AuditLog(sqlite_engine, "bt-1")
    assert db.adopt(mem.entries()) == 2 and db.verify().ok and len(db.story("o")) == 2
    with pytest.raises(AuditError, match="already has entries"):
        db.adopt(mem.entries())
    bad = mem.entries()
    bad[1] = type(bad[1])(**{**{f: getattr(bad[1], f) for f in bad[1].__slots__}, "kind": "note"})  # type: ignore[attr-defined]
    with pytest.raises(AuditTamperError):
        AuditLog(sqlite_engine, "bt-1").adopt(bad)


def test_import_round_trip_is_exact_on_both_backends(any_engine: Engine, tmp_path: Path) -> None:
    from tftrade.compliance.tax_import import read_fills, read_splits
    from tftrade.compliance.tax_store import import_history

    fills = tmp_path / "f.csv"
    fills.write_text("date,ticker,side,quantity,price,fees,account,lots\n"
                     "01/02/2024,x,B,10.5,100.123456789,0.015,acct,\n"
                     "2024-02-01,X,buy,3,99.99,0,acct,\n"
                     "2024-09-03,X,sell,4,120.01,0.01,acct,r-placeholder\n".replace("r-placeholder", ""))
    splits = tmp_path / "s.csv"
    splits.write_text("date,ticker,ratio\n2024-06-03,X,1.5\n")
    assert import_history(any_engine, [], read_splits(splits), "s.csv")["splits_inserted"] == 1
    counts = import_history(any_engine, read_fills(fills), [], "f.csv")
    assert counts["inserted"] == 3 and import_history(any_engine, read_fills(fills), [], "f.csv")["inserted"] == 0
    history = load_history(any_engine)
    first = history.transactions[0]
    assert (first.quantity, first.price, first.fees) == (D("10.5"), D("100.123456789"), D("0.015"))
    led = history.ledger()
    assert sum(lot.quantity for lot in led.open_lots()) == D("10.5") * D("1.5") + D(3) * D("1.5") - 4
    bad = tmp_path / "bad.csv"
    bad.write_text("date,ticker,side,quantity,price,account\n2024-09-04,X,sell,1000,1,acct\n")
    with pytest.raises(TaxLotError, match="only"):
        import_history(any_engine, read_fills(bad), [], "bad.csv")
    assert len(load_history(any_engine).transactions) == 3
