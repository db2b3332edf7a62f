"""The order-intent journal on SQLite and PostgreSQL: intents before sends, append-only events, exact fills."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine

from tftrade.core.orders import Fill, Order
from tftrade.execution.errors import DuplicateOrderIdError, ExecutionError
from tftrade.execution.journal import OrderJournal
from tftrade.execution.journaled import JournaledBroker
from tftrade.execution.paper import PaperBroker


def test_intent_is_written_once_and_checked(any_engine: Engine) -> None:
    j = OrderJournal(any_engine, clock_ns=lambda: 5)
    order = Order("j-1", "AAPL", -2.5, "limit", 190.1, created_ns=42, rationale="mean reversion")
    assert j.record_intent(order, decision_id="d-42", tag="rb", time_in_force="gtc", broker="alpaca")
    assert not j.record_intent(order)  # the same intent again: already there
    with pytest.raises(DuplicateOrderIdError, match="j-1"):
        j.record_intent(Order("j-1", "AAPL", -3.0, "limit", 190.1))
    i = j.intent("j-1")
    assert i is not None
    assert (i.ticker, i.quantity, i.order_type, i.limit_price, i.time_in_force, i.decision_id, i.tag, i.broker,
            i.created_ns) == ("AAPL", Decimal("-2.5"), "limit", Decimal("190.1"), "gtc", "d-42", "rb", "alpaca", 42)
    assert i.to_order() == order
    assert j.order("j-1").state == "intent"  # type: ignore[union-attr]


def test_events_fold_into_states_and_fills_are_exact_and_deduplicated(any_engine: Engine) -> None:
    j = OrderJournal(any_engine)
    j.record_intent(Order("j-2", "MSFT", 10.0, created_ns=1), decision_id="d")
    j.append("j-2", "submitted")
    assert j.order("j-2").state == "submitted"  # type: ignore[union-attr]
    j.append("j-2", "unknown", reason="timeout")
    assert j.order("j-2").state == "unknown"  # type: ignore[union-attr]
    j.append("j-2", "resolved", broker_order_id="b-1")
    assert j.order("j-2").state == "new"  # type: ignore[union-attr]
    assert j.append_fill(Fill("j-2", "MSFT", 3.0, 100.1, 0.0, 10), "b-1@3", event="partial_fill")
    assert not j.append_fill(Fill("j-2", "MSFT", 3.0, 100.1, 0.0, 10), "b-1@3")  # seen twice, stored once
    o = j.order("j-2")
    assert o is not None and o.state == "partially_filled" and o.filled == Decimal(3) and o.broker_order_id == "b-1"
    j.append_fill(Fill("j-2", "MSFT", 7.0, 100.2, 0.5, 11), "b-1@10")
    o = j.order("j-2")
    assert o is not None and o.state == "filled" and not o.is_open
    assert o.average_price == (Decimal(3) * Decimal("100.1") + Decimal(7) * Decimal("100.2")) / 10
    assert j.positions() == {"MSFT": Decimal(10)}
    assert j.story("j-2") == ["intent", "submitted", "unknown", "resolved", "partial_fill", "fill"]
    assert j.ledger().positions() == {"MSFT": 10.0}
    assert j.booked() == {"j-2": (Decimal(10), Decimal("300.3") + Decimal("701.4"))}
    assert j.open_orders() == []


def test_final_states_and_bad_events(any_engine: Engine) -> None:
    j = OrderJournal(any_engine)
    for cid in ("c", "r", "a"):
        j.record_intent(Order(cid, "X", 1.0))
    j.append("c", "accepted")
    j.append("c", "cancelled", reason="by request")
    j.append("r", "rejected", reason="insufficient qty")
    j.append("a", "abandoned", reason="never sent")
    assert {o.intent.client_order_id: o.state for o in j.orders()} == {"c": "cancelled", "r": "rejected",
                                                                       "a": "abandoned"}
    assert j.order("r").reason == "insufficient qty"  # type: ignore[union-attr]
    with pytest.raises(ExecutionError, match="not one of"):
        j.append("c", "teleported")
    with pytest.raises(ExecutionError, match="needs execution_id"):
        j.append("c", "fill", fill_quantity=1, fill_price=1)


def test_journaled_paper_broker_tells_the_whole_story(any_engine: Engine) -> None:
    import numpy as np

    from tftrade.execution.costs import CostModel
    from tftrade.execution.manager import OrderManager

    jb = JournaledBroker(PaperBroker(cash=1e6, costs=CostModel.none()), OrderJournal(any_engine), name="paper")
    m = OrderManager(jb, strategy_version="s-1")
    statuses = m.rebalance(1_000, ["AAPL", "MSFT"], [10.0, -5.0], [0.0, 0.0])
    assert [s.state for s in statuses] == ["new", "new"]
    p = np.array([100.0, 50.0])
    fills = jb.on_bar(2_000, ["AAPL", "MSFT"], p, p, p, p, np.array([1e6, 1e6]))
    records = m.record_fills(fills)
    assert sorted(r.action for r in records) == ["BUY", "SHORT"]
    for o in jb.journal.orders():
        assert o.intent.decision_id == "1000" and o.intent.broker == "paper"
        assert jb.journal.story(o.intent.client_order_id) == ["intent", "submitted", "accepted", "fill"]
    assert jb.journal.positions() == {"AAPL": Decimal(10), "MSFT": Decimal(-5)}
    assert m.reconcile().in_sync


def test_fill_listeners_get_every_journaled_fill_once_whoever_drains(any_engine: Engine) -> None:
    import numpy as np

    from tftrade.execution.costs import CostModel
    from tftrade.execution.manager import OrderManager

    paper = PaperBroker(cash=1e6, costs=CostModel.none())
    jb = JournaledBroker(paper, OrderJournal(any_engine), name="paper")
    heard: list[list[Fill]] = []
    jb.on_fills(heard.append)
    OrderManager(jb, strategy_version="s-1").rebalance(1_000, ["AAPL"], [10.0], [0.0])
    p = np.array([100.0])
    paper.on_bar(2_000, ["AAPL"], p, p, p, p, np.array([1e6]))  # filled inside, not yet drained
    assert heard == []
    drained = jb.drain_fills(event="adopted_fill")  # e.g. reconciliation drains, not the loop
    assert [f.quantity for f in drained] == [10.0] and heard == [drained]
    assert jb.drain_fills() == [] and len(heard) == 1  # nothing journaled twice, nothing heard twice
