"""One conformance suite for every broker: PaperBroker and AlpacaBroker (on the loopback fake).

Each test runs through the journaled broker, as live trading does, and checks the same
behaviour on both: submit, partial fill, cancel, reject, duplicate client id, positions and
reconciliation (including a position held at the broker that the ledger does not know).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from alpaca_harness import AlpacaDriver, PaperDriver
from sqlalchemy import Engine

from tftrade.core.orders import Order
from tftrade.execution.errors import DuplicateOrderIdError, UnknownOrderError
from tftrade.execution.journal import OrderJournal
from tftrade.execution.journaled import JournaledBroker
from tftrade.execution.reconcile import reconcile

Driver = PaperDriver | AlpacaDriver


@pytest.fixture(params=["paper", "alpaca"])
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    d: Driver = PaperDriver() if request.param == "paper" else AlpacaDriver()
    yield d
    d.close()


@pytest.fixture
def jb(driver: Driver, sqlite_engine: Engine) -> JournaledBroker:
    return JournaledBroker(driver.broker, OrderJournal(sqlite_engine), name=driver.name)


def test_submit_then_fill(driver: Driver, jb: JournaledBroker) -> None:
    st = jb.submit(Order("c-1", "AAPL", 10.0))
    assert st.state == "new" and st.filled_quantity == 0
    driver.trade("AAPL", 100.0)
    driver.settle()
    fills = jb.drain_fills()
    assert [(f.client_order_id, f.quantity, f.price) for f in fills] == [("c-1", 10.0, 100.0)]
    assert jb.status("c-1").state == "filled"
    assert jb.positions() == {"AAPL": 10.0}
    assert jb.journal.story("c-1") == ["intent", "submitted", "accepted", "fill"]
    assert jb.journal.positions() == {"AAPL": Decimal(10)}


def test_partial_fill_then_rest(driver: Driver, jb: JournaledBroker) -> None:
    jb.submit(Order("c-2", "MSFT", 10.0))
    driver.trade("MSFT", 50.0, 4.0)
    driver.settle()
    first = jb.drain_fills()
    assert [f.quantity for f in first] == [4.0]
    st = jb.status("c-2")
    assert st.state == "partially_filled" and st.filled_quantity == 4.0
    driver.trade("MSFT", 51.0, 100.0)
    driver.settle()
    rest = jb.drain_fills()
    assert [f.quantity for f in rest] == [6.0]
    st = jb.status("c-2")
    assert st.state == "filled" and st.average_price == pytest.approx(50.6)
    assert jb.journal.story("c-2") == ["intent", "submitted", "accepted", "partial_fill", "fill"]


def test_cancel_open_limit_and_finished_order(driver: Driver, jb: JournaledBroker) -> None:
    jb.submit(Order("c-3", "AAPL", 5.0, "limit", 90.0))
    driver.trade("AAPL", 95.0)  # above the buy limit: no fill
    driver.settle()
    assert jb.drain_fills() == []
    st = jb.cancel("c-3")
    assert st.state == "cancelled"
    driver.trade("AAPL", 80.0)
    driver.settle()
    assert jb.drain_fills() == []  # a cancelled order never fills
    assert jb.cancel("c-3").state == "cancelled"  # cancelling again changes nothing
    assert jb.journal.order("c-3").state == "cancelled"  # type: ignore[union-attr]


def test_limit_fills_at_or_better(driver: Driver, jb: JournaledBroker) -> None:
    jb.submit(Order("c-4", "AAPL", -3.0, "limit", 110.0))
    driver.trade("AAPL", 105.0)
    driver.settle()
    assert jb.drain_fills() == []
    driver.trade("AAPL", 111.0)
    driver.settle()
    fills = jb.drain_fills()
    assert [f.quantity for f in fills] == [-3.0] and fills[0].price >= 110.0


def test_reject_sell_beyond_position_in_cash_account(sqlite_engine: Engine) -> None:
    for d in (PaperDriver(shorting=False), AlpacaDriver(shorting=False)):
        try:
            jb = JournaledBroker(d.broker, OrderJournal(sqlite_engine), name=f"{d.name}-cash")
            cid = f"c-rej-{d.name}"
            st = jb.submit(Order(cid, "TSLA", -5.0))
            assert st.state == "rejected" and st.reason, d.name
            assert jb.status(cid).state == "rejected"
            assert jb.journal.order(cid).state == "rejected"  # type: ignore[union-attr]
            assert jb.positions() == {}
        finally:
            d.close()


def test_duplicate_client_id(driver: Driver, jb: JournaledBroker) -> None:
    a = jb.submit(Order("c-5", "AAPL", 2.0))
    b = jb.submit(Order("c-5", "AAPL", 2.0))  # the same order again: one order at the broker
    assert a.client_order_id == b.client_order_id == "c-5"
    assert sum(1 for o in jb.orders() if o.client_order_id == "c-5") == 1
    with pytest.raises(DuplicateOrderIdError):
        jb.submit(Order("c-5", "AAPL", 3.0))
    with pytest.raises(DuplicateOrderIdError):
        driver.broker.submit(Order("c-5", "MSFT", 2.0))  # the broker itself refuses it too
    with pytest.raises(UnknownOrderError):
        jb.status("never-sent")


def test_positions_and_fractional_quantities(driver: Driver, jb: JournaledBroker) -> None:
    jb.submit(Order("c-6", "AAPL", 2.5))
    jb.submit(Order("c-7", "MSFT", -1.0))
    driver.trade("AAPL", 10.0)
    driver.trade("MSFT", 20.0)
    driver.settle()
    jb.drain_fills()
    assert jb.positions() == {"AAPL": 2.5, "MSFT": -1.0}
    assert jb.journal.positions() == {"AAPL": Decimal("2.5"), "MSFT": Decimal(-1)}


def test_reconciliation_in_sync_then_external_position(driver: Driver, jb: JournaledBroker) -> None:
    jb.submit(Order("c-8", "AAPL", 4.0))
    driver.trade("AAPL", 10.0)
    driver.settle()
    jb.drain_fills()
    report = reconcile(jb)
    assert report.in_sync and not report.halted
    driver.hold("NVDA", 3.0, 50.0)  # the broker holds a position we do not know
    report = reconcile(jb, policy="halt")
    assert [(d.ticker, d.ledger, d.broker) for d in report.position_differences] == [("NVDA", 0, 3)]
    assert report.halted and jb.halt_reason()
    report = reconcile(jb, policy="adopt")
    assert report.corrections and jb.journal.positions() == {"AAPL": Decimal(4), "NVDA": Decimal(3)}
    assert reconcile(jb).in_sync and not jb.halt_reason()  # in sync again: the reconciliation halt lifts
