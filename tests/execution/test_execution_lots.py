"""FIFO lots: a hand-worked example (partial lot consumption, long -> short flip) and cash-accounting properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tftrade.core.orders import Fill
from tftrade.execution.lots import LotBook, exact


def _fill(i: int, qty: float, price: float, commission: float, ticker: str = "X") -> Fill:
    return Fill(f"o{i}", ticker, qty, price, commission, i)


def test_fifo_hand_worked_example_with_partial_lot_and_flip() -> None:
    book = LotBook()
    # 1. buy 100 @ 10.00, $1.00 -> lot 100 costing 1001.00
    assert book.apply(_fill(1, 100, 10.00, 1.00)) == 0.0
    # 2. buy 50 @ 12.00, $0.50 -> lot 50 costing 600.50
    assert book.apply(_fill(2, 50, 12.00, 0.50)) == 0.0
    # 3. sell 120 @ 15.00, $1.20: closes lot 1 (1500 - 1.00 - 1001 = 498.00) and 20 of lot 2
    #    (300 - 0.20 - 600.50 * 20/50 = 59.60) -> 557.60; lot 2 keeps 30 costing 360.30
    assert book.apply(_fill(3, -120, 15.00, 1.20)) == pytest.approx(557.60, abs=1e-9)
    (lot,) = book.lots("X")
    assert (lot.quantity, lot.cost, lot.order_id) == (Decimal(30), Decimal("360.30"), "o2")
    # 4. sell 50 @ 11.00, $1.00: closes the 30 (330 - 0.60 - 360.30 = -30.90), opens a short of 20
    #    with the other $0.40 of commission: cost -220 + 0.40 = -219.60
    assert book.apply(_fill(4, -50, 11.00, 1.00)) == pytest.approx(-30.90, abs=1e-9)
    (lot,) = book.lots("X")
    assert (lot.quantity, lot.cost, lot.opened_ns) == (Decimal(-20), Decimal("-219.60"), 4)
    assert book.position("X") == -20.0
    # 5. buy 20 @ 9.00, $0.20 covers: -180 - 0.20 + 219.60 = 39.40
    assert book.apply(_fill(5, 20, 9.00, 0.20)) == pytest.approx(39.40, abs=1e-9)
    assert book.lots("X") == [] and book.position("X") == 0.0 and book.positions() == {}
    # to the cent: realised equals the net cash of the round trips
    assert book.realised_exact == Decimal("566.10")
    assert book.realised_total == 566.10


def test_tickers_are_independent() -> None:
    book = LotBook()
    book.apply(_fill(1, 10, 5.0, 0.0, "A"))
    assert book.apply(_fill(2, -10, 7.0, 0.0, "B")) == 0.0  # opens a short in B, closes nothing in A
    assert book.positions() == {"A": 10.0, "B": -10.0}
    assert book.unrealised("A", 6.0) == Decimal(10) and book.unrealised("B", 6.0) == Decimal(10)


fills_strategy = st.lists(
    st.tuples(
        st.sampled_from(["A", "B"]),
        st.one_of(st.integers(-500, 500).filter(bool).map(float),
                  st.floats(-500, 500, allow_nan=False).filter(lambda q: abs(q) > 1e-3)),
        st.floats(0.01, 5000, allow_nan=False),
        st.floats(0, 20, allow_nan=False),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(fills=fills_strategy, mark=st.floats(0.01, 5000, allow_nan=False))
def test_position_and_pnl_account_for_every_cent(fills: list[tuple[str, float, float, float]], mark: float) -> None:
    book = LotBook()
    realised_returned = Decimal(0)
    for i, (ticker, qty, price, commission) in enumerate(fills):
        realised_returned += exact(book.apply(_fill(i, qty, price, commission, ticker)))
    for ticker in ("A", "B"):
        mine = [f for f in fills if f[0] == ticker]
        # position == sum of fill quantities, exactly
        assert book.position_exact(ticker) == sum((exact(q) for _, q, _, _ in mine), Decimal(0))
        assert all((lot.quantity > 0) == (book.position_exact(ticker) > 0) for lot in book.lots(ticker))
    # realised + unrealised at a price == cash change (commissions paid) + position value at that price
    cash_change = sum((-exact(q) * exact(p) - exact(c) for _, q, p, c in fills), Decimal(0))
    value = sum((book.position_exact(t) * exact(mark) for t in ("A", "B")), Decimal(0))
    unrealised = book.unrealised("A", mark) + book.unrealised("B", mark)
    assert abs(book.realised_exact + unrealised - (cash_change + value)) < Decimal("1e-9")
    assert abs(book.realised_exact - realised_returned) < Decimal("1e-6")  # floats returned add up
