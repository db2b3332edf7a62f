"""OrderManager: deterministic ids, retries that never duplicate, rebalance, trade records, reconciliation."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tftrade.core.orders import Fill, Order, OrderStatus
from tftrade.execution.costs import CostModel
from tftrade.execution.errors import BrokerUnavailable, ExecutionError
from tftrade.execution.manager import OrderManager
from tftrade.execution.paper import PaperBroker

FREE = CostModel.none()


class AcceptThenFail:
    """A broker wrapper whose first ``failures`` submits reach the broker and then 'lose the reply'."""

    def __init__(self, inner: PaperBroker, failures: int = 1) -> None:
        self.inner = inner
        self.failures = failures
        self.calls = 0

    def submit(self, order: Order) -> OrderStatus:
        self.calls += 1
        status = self.inner.submit(order)  # the order IS placed...
        if self.failures > 0:
            self.failures -= 1
            raise BrokerUnavailable("connection reset after the request was sent")  # ...but the reply is lost
        return status

    def cancel(self, client_order_id: str) -> OrderStatus:
        return self.inner.cancel(client_order_id)

    def status(self, client_order_id: str) -> OrderStatus:
        return self.inner.status(client_order_id)

    def positions(self) -> dict[str, float]:
        return self.inner.positions()

    def cash(self) -> float:
        return self.inner.cash()


def _bar(b: PaperBroker, ts: int, prices: dict[str, float]) -> list[Fill]:
    p = np.array(list(prices.values()))
    return b.on_bar(ts, list(prices), p, p, p, p, np.full(len(p), 1e9))


def test_client_order_ids_are_deterministic_short_and_safe() -> None:
    m = OrderManager(PaperBroker(0.0), strategy_version="v1")
    t = 1_700_000_000_123_456_789
    a = m.client_order_id(t, "BRK.B/very-long-name", "rebalance:1")
    assert a == OrderManager(PaperBroker(0.0), strategy_version="v1").client_order_id(t, "BRK.B/very-long-name",
                                                                                    "rebalance:1")
    assert len(a) <= 48 and re.fullmatch(r"[A-Za-z0-9_-]+", a)
    others = {m.client_order_id(t + 1, "BRK.B/very-long-name", "rebalance:1"),
              m.client_order_id(t, "BRK.B/very-long-name", "rebalance:2"),
              OrderManager(PaperBroker(0.0), "v2").client_order_id(t, "BRK.B/very-long-name", "rebalance:1")}
    assert a not in others and len(others) == 3
    with pytest.raises(ExecutionError, match="decision_ns"):
        m.client_order_id(-1, "A")


def test_retry_after_a_lost_reply_is_answered_by_the_idempotent_id() -> None:
    paper = PaperBroker(1e6, FREE)
    broker = AcceptThenFail(paper, failures=1)
    slept: list[float] = []
    m = OrderManager(broker, max_retries=3, backoff_s=0.25, sleep=slept.append)
    order = Order(m.client_order_id(1, "A"), "A", 10.0)
    status = m.submit(order)
    assert broker.calls == 2 and slept == [0.25]
    assert status.client_order_id == order.client_order_id and status.state == "new"
    fills = _bar(paper, 2, {"A": 100.0})
    assert len(fills) == 1 and paper.positions() == {"A": 10.0}  # one order, not two
    # a restarted process re-deciding the same thing re-submits the same id: still no second order
    again = OrderManager(paper)
    assert again.submit(Order(again.client_order_id(1, "A"), "A", 10.0)).state == "filled"
    assert _bar(paper, 3, {"A": 100.0}) == [] and paper.positions() == {"A": 10.0}


def test_gives_up_after_max_retries_with_exponential_backoff() -> None:
    broker = AcceptThenFail(PaperBroker(1e6, FREE), failures=100)
    slept: list[float] = []
    m = OrderManager(broker, max_retries=3, backoff_s=0.5, sleep=slept.append)
    with pytest.raises(ExecutionError, match="unavailable after 4 attempts") as err:
        m.submit(Order("x", "A", 1.0))
    assert type(err.value) is ExecutionError  # not the retryable kind any more
    assert broker.calls == 4 and slept == [0.5, 1.0, 2.0]
    assert broker.inner.status("x").state == "new"  # the broker holds exactly one order


def test_rebalance_orders_the_deltas_sells_first() -> None:
    paper = PaperBroker(1e6, FREE)
    m = OrderManager(paper, "v1")
    statuses = m.rebalance(7, ["A", "B", "C", "D"], target_shares=[10, 0, 5, -3], current_shares=[0, 4, 5.5, 0],
                           limit_prices=[math.nan, 50.0, math.nan, math.nan], rationale=["up", "down", "c", "short"])
    assert [s.client_order_id.split("-")[0] for s in statuses] == ["B", "D", "A"]  # C's 0.5 is below min_shares
    orders = {o.ticker: o for o in (m._orders[s.client_order_id] for s in statuses)}
    assert (orders["B"].quantity, orders["B"].type, orders["B"].limit_price) == (-4.0, "limit", 50.0)
    assert (orders["A"].quantity, orders["A"].type, orders["A"].rationale) == (10.0, "market", "up")
    assert orders["D"].quantity == -3.0 and orders["D"].created_ns == 7
    # the same decision again (a restart) places nothing new
    m.rebalance(7, ["A", "B", "C", "D"], [10, 0, 5, -3], [0, 4, 5.5, 0], [math.nan, 50.0, math.nan, math.nan])
    assert len(paper._orders) == 3
    with pytest.raises(ExecutionError, match="target_shares"):
        m.rebalance(8, ["A", "B"], [1.0], [0.0, 0.0])
    with pytest.raises(ExecutionError, match="not finite at index 1"):
        m.rebalance(8, ["A", "B"], [1.0, math.nan], [0.0, 0.0])


def test_record_fills_gives_actions_pnl_and_rationale() -> None:
    paper = PaperBroker(1e6, FREE)
    m = OrderManager(paper, "sma-1")
    steps = [(10.0, 10.0, "open"), (-15.0, 12.0, "flip"), (5.0, 11.0, "cover")]
    records = []
    for ts, (qty, price, why) in enumerate(steps):
        m.submit(Order(m.client_order_id(ts, "A"), "A", qty, rationale=why))
        records += m.record_fills(_bar(paper, ts, {"A": price}))
    got = [(r.action, r.quantity, r.price, r.pnl, r.rationale, r.strategy_version) for r in records]
    assert got == [
        ("BUY", 10, 10.0, None, "open", "sma-1"),
        ("SELL", 10, 12.0, pytest.approx(20.0), "flip", "sma-1"),
        ("SHORT", 5, 12.0, None, "flip", "sma-1"),
        ("COVER", 5, 11.0, pytest.approx(5.0), "cover", "sma-1"),
    ]
    assert m.lots.realised_total == pytest.approx(25.0)
    assert m.reconcile().in_sync


def test_commission_is_split_across_the_two_records_of_a_flip() -> None:
    paper = PaperBroker(1e6, CostModel(commission_per_share=0.01, slippage_bps=0.0, impact_coefficient=0.0,
                                       max_volume_share=0.0))
    m = OrderManager(paper)
    m.submit(Order("a", "A", 100.0))
    m.record_fills(_bar(paper, 1, {"A": 10.0}))
    m.submit(Order("b", "A", -300.0))
    sell, short = m.record_fills(_bar(paper, 2, {"A": 11.0}))
    assert (sell.commission, short.commission) == (pytest.approx(1.0), pytest.approx(2.0))
    assert sell.pnl == pytest.approx(100 * (11 - 10) - 1.0 - 1.0)  # both commissions of the round trip


def test_reconcile_detects_a_mismatch() -> None:
    paper = PaperBroker(1e6, FREE)
    m = OrderManager(paper)
    m.submit(Order("a", "A", 10.0))
    m.submit(Order("b", "B", -5.0))
    fills = _bar(paper, 1, {"A": 10.0, "B": 20.0})
    m.record_fills(fills[:1])  # the B fill never reached the lot book
    rec = m.reconcile()
    assert not rec.in_sync
    (diff,) = rec.differences
    assert (diff.ticker, diff.book, diff.broker, diff.difference) == ("B", 0.0, -5.0, -5.0)
    m.record_fills(fills[1:])
    assert m.reconcile().in_sync


orders_strategy = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(-300, 300).filter(bool),
              st.one_of(st.none(), st.floats(80, 120))),
    max_size=15,
)
paths = st.lists(st.tuples(st.floats(80, 120), st.floats(0, 5), st.floats(0, 5), st.floats(0, 2000)),
                 min_size=1, max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders=orders_strategy, path=paths, allow_short=st.booleans())
def test_broker_and_lot_book_agree_after_any_orders(orders: list[tuple[str, int, float | None]],
                                                   path: list[tuple[float, float, float, float]],
                                                   allow_short: bool) -> None:
    paper = PaperBroker(50_000.0, CostModel(commission_per_share=0.01, commission_min=1.0), allow_short=allow_short)
    m = OrderManager(paper)
    for i, (ticker, qty, limit) in enumerate(orders):
        m.submit(Order(f"o{i}", ticker, float(qty), "market" if limit is None else "limit", limit))
    for ts, (o, up, down, vol) in enumerate(path):
        n = 3
        m.record_fills(paper.on_bar(ts, ["A", "B", "C"], np.full(n, o), np.full(n, o + up), np.full(n, o - down),
                                    np.full(n, o), np.full(n, vol)))
    assert m.reconcile().in_sync
    flows = sum(-f.quantity * f.price - f.commission for f in paper.fills)
    assert paper.cash() == pytest.approx(50_000.0 + flows, abs=1e-6)
    if not allow_short:
        assert paper.cash() >= -1e-6 and all(q > 0 for q in paper.positions().values())
    for f in paper.fills:  # whole-share orders fill whole shares; never more than the order
        assert f.quantity == round(f.quantity)
    for i, (_, qty, _) in enumerate(orders):
        st_ = paper.status(f"o{i}")
        assert abs(st_.filled_quantity) <= abs(qty) and st_.filled_quantity * qty >= 0
