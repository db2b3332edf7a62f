"""Domain types: validation of orders and fills, and the batch fill constructor."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from tftrade.core.orders import Fill, InvalidOrderError, Order, OrderStatus, TradeRecord, make_fills


def test_make_fills_equals_fill_and_stays_frozen() -> None:
    fills = make_fills(["a", "b"], ["X", "Y"], np.array([2.0, -3.0]), np.array([10.0, 11.5]), np.array([0.0, 1.0]), 9)
    assert fills == [Fill("a", "X", 2.0, 10.0, 0.0, 9), Fill("b", "Y", -3.0, 11.5, 1.0, 9)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fills[0].price = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(("qty", "price", "commission", "message"), [
    (0.0, 10.0, 0.0, "quantity 0.0"),
    (1.0, math.nan, 0.0, "price nan"),
    (1.0, -2.0, 0.0, "price -2.0"),
    (1.0, 2.0, -0.5, "commission -0.5"),
])
def test_bad_fills_are_refused_one_at_a_time_and_in_batches(qty: float, price: float, commission: float,
                                                            message: str) -> None:
    with pytest.raises(InvalidOrderError, match=message):
        Fill("f", "X", qty, price, commission, 0)
    with pytest.raises(InvalidOrderError, match=f"fill of bad: {message}"):
        make_fills(["ok", "bad"], ["X", "X"], np.array([1.0, qty]), np.array([1.0, price]),
                   np.array([0.0, commission]), 0)
    with pytest.raises(InvalidOrderError, match="2 ids but 1 tickers"):
        make_fills(["a", "b"], ["X"], np.ones(2), np.ones(2), np.zeros(2), 0)


def test_order_status_and_record_validation() -> None:
    assert OrderStatus("a", "partially_filled", 1.0, 2.0).is_open
    assert not OrderStatus("a", "rejected", 0.0, None, "why").is_open
    assert Order("a", "X", -1.0).side == "sell"
    with pytest.raises(InvalidOrderError, match="type 'stop'"):
        Order("a", "X", 1.0, "stop")  # type: ignore[arg-type]
    with pytest.raises(InvalidOrderError, match="action 'HOLD'"):
        TradeRecord("X", "HOLD", 1, 1.0, 0, "a", "", None, 0.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidOrderError, match="non-negative int"):
        TradeRecord("X", "BUY", 1.5, 1.0, 0, "a", "", None, 0.0)  # type: ignore[arg-type]
