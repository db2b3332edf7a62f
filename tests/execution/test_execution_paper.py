"""PaperBroker: fill prices, limits and gaps, volume-capped partial fills, NaN bars, cancel, idempotence, cash."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from tftrade.core.orders import Fill, InvalidOrderError, Order
from tftrade.execution.broker import Broker
from tftrade.execution.costs import CostModel
from tftrade.execution.errors import DuplicateOrderIdError, ExecutionError, UnknownOrderError
from tftrade.execution.paper import PaperBroker

BarFeeder = Callable[[PaperBroker, int, dict[str, tuple[float, ...]]], list[Fill]]  # the `bar` fixture
FREE = CostModel.none()
NAN = math.nan


def test_paper_broker_is_a_broker() -> None:
    assert isinstance(PaperBroker(1.0), Broker)


def test_market_order_fills_next_bar_at_open_plus_slippage_and_commission(bar: BarFeeder) -> None:
    costs = CostModel(slippage_bps=5.0, impact_coefficient=0.1, commission_per_share=0.005, commission_min=1.0,
                      max_volume_share=0.0)
    b = PaperBroker(100_000.0, costs)
    assert bar(b, 1, {"A": (10, 11, 9, 10, 1e4)}) == []  # nothing open yet
    b.submit(Order("buy", "A", 100.0))
    b.submit(Order("sell", "B", -1000.0))
    fills = bar(b, 2, {"A": (50, 51, 49, 50.5, 10_000), "B": (50, 50, 48, 49, 100_000)})
    by_id = {f.client_order_id: f for f in fills}
    # 5 bp + 0.1 * 100/10,000 = 15 bp against the buyer; commission max(1, 0.5) = 1
    assert by_id["buy"].price == pytest.approx(50.075, abs=1e-9)
    assert by_id["buy"].commission == pytest.approx(1.0)
    # 5 bp + 0.1 * 1,000/100,000 = 15 bp against the seller; commission max(1, 5) = 5
    assert by_id["sell"].price == pytest.approx(49.925, abs=1e-9)
    assert by_id["sell"].commission == pytest.approx(5.0)
    assert all(f.timestamp_ns == 2 for f in fills)
    expected_cash = 100_000 - 100 * 50.075 - 1.0 + 1000 * 49.925 - 5.0
    assert b.cash() == pytest.approx(expected_cash, abs=1e-6)
    assert b.positions() == {"A": 100.0, "B": -1000.0}
    assert b.equity() == pytest.approx(expected_cash + 100 * 50.5 - 1000 * 49, abs=1e-6)
    assert b.status("buy").state == "filled" and b.status("buy").average_price == pytest.approx(50.075)


@pytest.mark.parametrize(
    ("qty", "limit", "ohlc", "expected"),
    [
        (10.0, 99.0, (100, 101, 98.5, 100), 99.0),  # trades through the buy limit: at the limit
        (10.0, 99.0, (97, 98, 96, 97.5), 97.0),  # gaps below the buy limit: at the (better) open
        (10.0, 99.0, (99, 100, 98, 99), 99.0),  # opens at the limit
        (-10.0, 105.0, (104, 105.5, 103, 104), 105.0),  # trades through the sell limit
        (-10.0, 105.0, (107, 108, 106, 107), 107.0),  # gaps above the sell limit
    ],
)
def test_limit_fills_at_limit_or_better(bar: BarFeeder, qty: float, limit: float,
                                        ohlc: tuple[float, float, float, float], expected: float) -> None:
    b = PaperBroker(1e6, FREE)
    b.submit(Order("l", "A", qty, "limit", limit))
    (fill,) = bar(b, 1, {"A": (*ohlc, 1e6)})
    assert fill.price == expected and fill.quantity == qty


@pytest.mark.parametrize(("qty", "limit", "ohlc"), [
    (10.0, 99.0, (100, 101, 99, 100)),  # only touches the buy limit: not through
    (10.0, 99.0, (100, 101, 99.5, 100)),
    (-10.0, 105.0, (104, 105, 103, 104)),
])
def test_limit_not_reached_waits_and_fills_later(bar: BarFeeder, qty: float, limit: float,
                                                 ohlc: tuple[float, float, float, float]) -> None:
    b = PaperBroker(1e6, FREE)
    b.submit(Order("l", "A", qty, "limit", limit))
    assert bar(b, 1, {"A": (*ohlc, 1e6)}) == []
    assert b.status("l").state == "new"
    (fill,) = bar(b, 2, {"A": (limit, limit + 1, limit - 1, limit, 1e6)})
    assert fill.price == limit


def test_slippage_never_makes_a_limit_fill_worse_than_the_limit(bar: BarFeeder) -> None:
    b = PaperBroker(1e6, CostModel(slippage_bps=10.0, impact_coefficient=0.0, max_volume_share=0.0))
    b.submit(Order("through", "A", 10.0, "limit", 99.0))
    b.submit(Order("gap", "B", 10.0, "limit", 99.0))
    fills = {f.client_order_id: f for f in bar(b, 1, {"A": (100, 101, 98, 100, 1e6), "B": (97, 98, 96, 97, 1e6)})}
    assert fills["through"].price == 99.0  # 99 * 1.001 capped at the limit
    assert fills["gap"].price == pytest.approx(97 * 1.001)  # the open plus 10 bp, still under the limit


def test_volume_cap_partial_fills_complete_over_later_bars(bar: BarFeeder) -> None:
    b = PaperBroker(1e6, CostModel(slippage_bps=0.0, impact_coefficient=0.1, max_volume_share=0.1))
    b.submit(Order("big", "A", 250.0))
    (f1,) = bar(b, 1, {"A": (10, 10, 10, 10, 1000)})
    assert f1.quantity == 100.0
    assert f1.price == pytest.approx(10 * (1 + 0.1 * 100 / 1000))  # impact of the filled 100, not of 250
    st = b.status("big")
    assert (st.state, st.filled_quantity) == ("partially_filled", 100.0)
    (f2,) = bar(b, 2, {"A": (11, 11, 11, 11, 1000)})
    (f3,) = bar(b, 3, {"A": (12, 12, 12, 12, 1000)})
    assert (f2.quantity, f3.quantity) == (100.0, 50.0)
    st = b.status("big")
    assert st.state == "filled" and st.filled_quantity == 250.0
    expected_avg = (100 * 10 * 1.01 + 100 * 11 * 1.01 + 50 * 12 * 1.005) / 250
    assert st.average_price == pytest.approx(expected_avg)
    assert bar(b, 4, {"A": (12, 12, 12, 12, 1000)}) == []


def test_volume_cap_is_shared_by_orders_on_a_ticker_first_come_first_served(bar: BarFeeder) -> None:
    b = PaperBroker(1e6, CostModel(slippage_bps=0.0, impact_coefficient=0.0, max_volume_share=0.1))
    b.submit(Order("first", "A", 80.0))
    b.submit(Order("other", "B", -30.0))
    b.submit(Order("second", "A", -80.0))
    fills = {f.client_order_id: f.quantity for f in bar(b, 1, {"A": (10, 10, 10, 10, 1005), "B": (5, 5, 5, 5, 1e4)})}
    assert fills == {"first": 80.0, "second": -20.0, "other": -30.0}  # cap 100.5 -> whole shares


def test_fractional_orders_fill_fractions(bar: BarFeeder) -> None:
    b = PaperBroker(1e6, CostModel(slippage_bps=0.0, impact_coefficient=0.0, max_volume_share=0.1))
    b.submit(Order("f", "A", 20.5))
    (fill,) = bar(b, 1, {"A": (10, 10, 10, 10, 105)})
    assert fill.quantity == pytest.approx(10.5)


@pytest.mark.parametrize("nan_field", [0, 1, 2])
def test_nan_bar_or_missing_ticker_makes_the_order_wait(bar: BarFeeder, nan_field: int) -> None:
    b = PaperBroker(1e6, FREE)
    b.submit(Order("w", "A", 5.0))
    ohlcv = [10.0, 11.0, 9.0, 10.0, 1e6]
    ohlcv[nan_field] = NAN
    assert bar(b, 1, {"A": (ohlcv[0], ohlcv[1], ohlcv[2], ohlcv[3], ohlcv[4]), "B": (1, 1, 1, 1, 1)}) == []
    assert bar(b, 2, {"B": (1, 1, 1, 1, 1)}) == []  # A not in this cross-section
    assert b.status("w").state == "new" and b.positions() == {}
    (fill,) = bar(b, 3, {"B": (1, 1, 1, 1, 1), "A": (12, 13, 11, 12, 1e6)})
    assert fill.price == 12.0


def test_zero_volume_bar_fills_nothing_while_the_cap_is_on(bar: BarFeeder) -> None:
    b = PaperBroker(1e6, CostModel(max_volume_share=0.1))
    b.submit(Order("z", "A", 5.0))
    assert bar(b, 1, {"A": (10, 10, 10, 10, 0)}) == []
    assert len(bar(b, 2, {"A": (10, 10, 10, 10, math.inf)})) == 1  # price-only data: pass volume=inf


def test_cancel_keeps_the_filled_part_and_stops_the_rest(bar: BarFeeder) -> None:
    b = PaperBroker(1e6, CostModel(slippage_bps=0.0, impact_coefficient=0.0, max_volume_share=0.1))
    b.submit(Order("c", "A", 300.0))
    bar(b, 1, {"A": (10, 10, 10, 10, 1000)})
    st = b.cancel("c")
    assert (st.state, st.filled_quantity, st.reason) == ("cancelled", 100.0, "cancelled by request")
    assert bar(b, 2, {"A": (10, 10, 10, 10, 1000)}) == []
    assert b.positions() == {"A": 100.0}
    assert b.cancel("c") == st  # cancelling again changes nothing
    b.submit(Order("done", "A", 1.0))
    bar(b, 3, {"A": (10, 10, 10, 10, 1000)})
    assert b.cancel("done").state == "filled"
    with pytest.raises(UnknownOrderError, match="nope"):
        b.cancel("nope")
    with pytest.raises(UnknownOrderError, match="nope"):
        b.status("nope")


def test_resubmitting_a_client_id_creates_no_second_order(bar: BarFeeder) -> None:
    b = PaperBroker(1e6, FREE)
    order = Order("same", "A", 10.0)
    first = b.submit(order)
    assert b.submit(order) == first
    fills = bar(b, 1, {"A": (10, 10, 10, 10, 1e6)})
    assert len(fills) == 1 and b.positions() == {"A": 10.0}
    assert b.submit(order).state == "filled"  # after filling too
    assert bar(b, 2, {"A": (10, 10, 10, 10, 1e6)}) == [] and b.positions() == {"A": 10.0}
    with pytest.raises(DuplicateOrderIdError, match="same"):
        b.submit(Order("same", "A", 20.0))


def test_cash_account_rejects_short_sales(bar: BarFeeder) -> None:
    b = PaperBroker(1000.0, FREE, allow_short=False)
    st = b.submit(Order("s", "A", -1.0))
    assert st.state == "rejected" and "short selling not allowed" in st.reason
    b.submit(Order("b", "A", 5.0))
    bar(b, 1, {"A": (10, 10, 10, 10, 1e6)})
    assert b.submit(Order("s3", "A", -3.0)).state == "new"
    st = b.submit(Order("s4", "A", -3.0))  # 5 held, 3 already pending
    assert st.state == "rejected" and "pending sells 3" in st.reason


def test_cash_account_resizes_buys_to_cash_after_sells_pay_in(bar: BarFeeder) -> None:
    b = PaperBroker(1000.0, CostModel(commission_min=1.0, slippage_bps=0.0, impact_coefficient=0.0,
                                      max_volume_share=0.0), allow_short=False)
    b.submit(Order("b1", "A", 5.0))
    bar(b, 1, {"A": (100, 100, 100, 100, 1e6)})
    assert b.cash() == pytest.approx(499.0)
    b.submit(Order("buy", "B", 20.0))  # costs 2001 > 499 + what selling A brings
    b.submit(Order("sell", "A", -5.0))  # pays in 5 * 100 - 1 = 499 first
    fills = {f.client_order_id: f for f in bar(b, 2, {"A": (100, 100, 100, 100, 1e6), "B": (100, 100, 100, 100, 1e6)})}
    assert fills["buy"].quantity == 9.0  # 998 available: 9 * 100 + 1 fits, 10 * 100 + 1 does not
    st = b.status("buy")
    assert st.state == "cancelled" and "insufficient cash" in st.reason and st.filled_quantity == 9.0
    assert b.cash() == pytest.approx(998.0 - 901.0)
    b.submit(Order("toobig", "B", 5.0))
    assert bar(b, 3, {"A": (100, 100, 100, 100, 1e6), "B": (100, 100, 100, 100, 1e6)}) == []
    assert b.status("toobig").state == "rejected"


def test_bad_input_is_refused_with_a_clear_error(bar: BarFeeder) -> None:
    with pytest.raises(InvalidOrderError, match="non-zero"):
        Order("x", "A", 0.0)
    with pytest.raises(InvalidOrderError, match="limit_price"):
        Order("x", "A", 1.0, "limit")
    with pytest.raises(InvalidOrderError, match="market order must not"):
        Order("x", "A", 1.0, limit_price=3.0)
    b = PaperBroker(1.0)
    b.submit(Order("x", "A", 1.0))
    with pytest.raises(ExecutionError, match="one per ticker"):
        b.on_bar(0, ["A", "B"], np.ones(2), np.ones(2), np.ones(1), np.ones(2), np.ones(2))
    with pytest.raises(ExecutionError, match="finite"):
        PaperBroker(math.nan)
