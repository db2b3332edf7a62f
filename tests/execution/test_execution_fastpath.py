"""The fast paths give the same answers as the plain ones: integer-unit lots vs a Decimal reference,
batched submit/cancel vs one at a time, objects built without ``__init__`` vs the constructors."""

from __future__ import annotations

import math
from collections import deque
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tftrade.core.orders import Fill, Order, OrderStatus, TradeRecord
from tftrade.execution.costs import CostModel
from tftrade.execution.errors import BrokerUnavailable
from tftrade.execution.lots import DIGITS, LotBook, exact, to_units
from tftrade.execution.manager import OrderManager, make_market_orders, make_record
from tftrade.execution.paper import PaperBroker

FREE = CostModel.none()


# -- integer units ------------------------------------------------------------------------------
@settings(max_examples=500, deadline=None)
@given(x=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_to_units_is_the_shortest_repr_exactly(x: float) -> None:
    d = exact(x)
    scaled = d.scaleb(DIGITS)
    if scaled == scaled.to_integral_value():  # at most DIGITS decimals: exact
        assert to_units(x) == int(scaled)
    else:  # more decimals (|x| below ~1e-7): rounded half-even, within half a unit
        assert abs(Decimal(to_units(x)) - scaled) <= Decimal("0.5")


def test_to_units_of_other_types() -> None:
    assert to_units(0.1) == 10**23 and to_units(-3) == -3 * 10**24
    assert to_units(Decimal("1.25")) == 125 * 10**22 and to_units(np.float64(0.1)) == 10**23
    assert to_units(1e-30) == 0 and to_units(7.5e-25) == 1  # beyond 24 decimals: half-even at 1e-24
    assert to_units(2.5e-24) == 2 and to_units(123456789.123) == 123456789123 * 10**21
    with pytest.raises(ValueError, match="non-finite"):
        to_units(Decimal("nan"))


class DecimalLots:
    """The previous LotBook (Decimal money, 28 digits): the reference the integer book must match."""

    def __init__(self) -> None:
        self.lots: dict[str, deque[list[Decimal]]] = {}
        self.realised = Decimal(0)

    def apply(self, ticker: str, q: float, p: float, c: float) -> Decimal:
        qty, price, commission = exact(q), exact(p), exact(c)
        lots = self.lots.setdefault(ticker, deque())
        left, realised, closing = qty, Decimal(0), Decimal(0)
        while lots and left != 0 and (lots[0][0] > 0) != (left > 0):
            lq, lc = lots[0]
            m = -left if abs(left) < abs(lq) else lq
            part = commission * abs(m) / abs(qty)
            released = lc if m == lq else lc * m / lq
            realised += m * price - part - released
            closing += part
            if m == lq:
                lots.popleft()
            else:
                lots[0] = [lq - m, lc - released]
            left += m
        if left != 0:
            lots.append([left, left * price + commission - closing])
        self.realised += realised
        return realised


fills_strategy = st.lists(
    st.tuples(
        st.sampled_from(["A", "B"]),
        st.one_of(st.integers(-500, 500).filter(bool).map(float),
                  st.floats(-500, 500, allow_nan=False).filter(lambda q: abs(q) > 1e-3)),
        st.floats(0.01, 5000, allow_nan=False),
        st.one_of(st.just(0.0), st.floats(0, 20, allow_nan=False)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(fills=fills_strategy)
def test_integer_lots_match_the_decimal_reference(fills: list[tuple[str, float, float, float]]) -> None:
    book, ref = LotBook(), DecimalLots()
    for i, (ticker, q, p, c) in enumerate(fills):
        got = book.apply(Fill(f"o{i}", ticker, q, p, c, i))
        want = ref.apply(ticker, q, p, c)
        assert got == pytest.approx(float(want), rel=1e-12, abs=1e-9)
    assert abs(book.realised_exact - ref.realised) < Decimal("1e-12")
    for ticker in ("A", "B"):
        mine, theirs = book.lots(ticker), list(ref.lots.get(ticker, ()))
        assert [lot.quantity for lot in mine] == [q for q, _ in theirs]  # quantities: exactly
        for lot, (_, cost) in zip(mine, theirs, strict=True):
            assert abs(lot.cost - cost) < Decimal("1e-12")


def test_lot_book_units_and_decimals_round_trip() -> None:
    book = LotBook()
    book.apply(Fill("a", "X", 3.0, 0.1, 0.0, 0))
    book.apply(Fill("b", "X", -1.0, 0.3, 0.0, 1))
    (lot,) = book.lots("X")
    assert (lot.quantity, lot.cost, str(lot.cost)) == (Decimal(2), Decimal("0.2"), "0.2")
    assert book.realised_exact == Decimal("0.2") and str(book.realised_exact) == "0.2"  # 0.3 - 0.1, no float dust
    assert book.unrealised("X", 0.15) == Decimal("0.1") and book.position_exact("X") == Decimal(2)


# -- batched broker calls -------------------------------------------------------------------------
def _orders() -> list[Order]:
    return [Order("a", "A", 10.0), Order("b", "B", -5.0), Order("c", "A", 2.5), Order("a", "A", 10.0)]


@pytest.mark.parametrize("allow_short", [True, False])
def test_submit_many_equals_submitting_one_by_one(allow_short: bool) -> None:
    one, many = PaperBroker(1e4, FREE, allow_short), PaperBroker(1e4, FREE, allow_short)
    expected = [one.submit(o) for o in _orders()]
    assert many.submit_many(_orders()) == expected
    bars = (["A", "B"], np.array([10.0, 20.0]), np.array([10.0, 20.0]), np.array([10.0, 20.0]),
            np.array([10.0, 20.0]), np.array([1e6, 1e6]))
    assert one.on_bar(1, *bars) == many.on_bar(1, *bars)
    assert [many.status(c) for c in "abc"] == [one.status(c) for c in "abc"]
    assert many.positions() == one.positions() and many.cash() == one.cash()


def test_cancel_many_cancels_only_what_is_open() -> None:
    b = PaperBroker(1e6, CostModel(slippage_bps=0.0, impact_coefficient=0.0, max_volume_share=0.1))
    b.submit_many([Order("part", "A", 300.0), Order("done", "B", 1.0), Order("wait", "C", 5.0, "limit", 1.0)])
    b.on_bar(1, ["A", "B", "C"], np.full(3, 10.0), np.full(3, 10.0), np.full(3, 10.0), np.full(3, 10.0),
             np.full(3, 1000.0))
    done = b.status("done")
    assert b.cancel_many(["part", "done", "wait", "unknown"]) == 2
    assert b.status("part") == OrderStatus("part", "cancelled", 100.0, 10.0, "cancelled by request")
    assert b.status("wait").state == "cancelled" and b.status("done") == done
    assert b.cancel_many(["part", "wait"]) == 0
    assert b.on_bar(2, ["A", "C"], np.full(2, 0.5), np.full(2, 0.5), np.full(2, 0.5), np.full(2, 0.5),
                    np.full(2, 1e6)) == []


class FlakyBatch(PaperBroker):
    """A paper broker whose batch call places the orders and then loses the reply."""

    def submit_many(self, orders: list[Order]) -> list[OrderStatus]:  # type: ignore[override]
        super().submit_many(orders)
        raise BrokerUnavailable("reply lost")


def test_a_failed_batch_is_resubmitted_one_by_one_without_duplicates() -> None:
    broker = FlakyBatch(1e6, FREE)
    m = OrderManager(broker, "v1")
    statuses = m.rebalance(5, ["A", "B"], [10.0, -4.0], [0.0, 0.0])
    assert [s.state for s in statuses] == ["new", "new"] and len(broker._orders) == 2
    fills = broker.on_bar(6, ["A", "B"], np.ones(2), np.ones(2), np.ones(2), np.ones(2), np.full(2, 1e6))
    assert sorted(f.quantity for f in fills) == [-4.0, 10.0]


def test_rebalance_skips_zero_deltas_even_with_min_shares_zero() -> None:
    m = OrderManager(PaperBroker(1e6, FREE))
    statuses = m.rebalance(1, ["A", "B", "C"], [1.0, 2.0, 0.0], [1.0, 0.5, 0.0], min_shares=0.0)
    assert [m._orders[s.client_order_id].quantity for s in statuses] == [1.5]


def test_rebalance_ids_equal_client_order_id() -> None:
    m = OrderManager(PaperBroker(1e6, FREE), "v9")
    statuses = m.rebalance(42, ["BRK.B", "X"], [3.0, -1.0], [0.0, 0.0])
    assert [s.client_order_id for s in statuses] == [m.client_order_id(42, "X", "rb"),
                                                     m.client_order_id(42, "BRK.B", "rb")]


# -- objects built without __init__ ---------------------------------------------------------------
def test_fast_constructors_equal_the_dataclass_constructors() -> None:
    orders = make_market_orders(["i1", "i2"], ["A", "B"], [1.5, -2.0], 9, ["r1", ""])
    assert orders == [Order("i1", "A", 1.5, "market", None, 9, "r1"), Order("i2", "B", -2.0, "market", None, 9, "")]
    fill = Fill("i1", "A", 1.5, 10.25, 0.5, 11)
    assert make_record(fill, "BUY", 1.5, "v", None, 0.5, "r1") == TradeRecord(
        "A", "BUY", 2, 10.25, 11, "i1", "v", None, 0.5, "r1", 1.5)
    assert math.isclose(make_record(fill, "SELL", 0.4, "v", 1.0, 0.1, "").exact_quantity or 0, 0.4)


@settings(max_examples=150, deadline=None)
@given(fills=fills_strategy, reverse=st.lists(st.booleans(), max_size=60))
def test_book_fill_equals_apply_including_whole_exits(fills: list[tuple[str, float, float, float]],
                                                      reverse: list[bool]) -> None:
    a, b = LotBook(), LotBook()
    last: dict[str, float] = {}
    for i, (ticker, q, p, c) in enumerate(fills):
        if i < len(reverse) and reverse[i] and ticker in last:
            q = -last[ticker]  # exactly undo the previous fill: the whole-exit shortcut
        last[ticker] = q
        got = b.book_fill(ticker, q, p, c, i, f"o{i}")
        assert a.apply(Fill(f"o{i}", ticker, q, p, c, i)) == got[2] / 10 ** (2 * DIGITS)
    assert a.realised_exact == b.realised_exact
    assert all(a.lots(t) == b.lots(t) for t in ("A", "B"))
