"""Messages: one serialisation, versioned, and exact round trips with the domain types."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tftrade.core.orders import InvalidOrderError, Order
from tftrade.core.prediction import Prediction
from tftrade.core.types import Bar
from tftrade.stream.bus import make_deliveries, make_delivery
from tftrade.stream.convert import (
    bar_message,
    order_message,
    prediction_message,
    to_bar,
    to_order,
    to_prediction,
)
from tftrade.stream.errors import MessageError
from tftrade.stream.messages import BarMessage, CommentMessage, OrderMessage, decode, decode_many, encode

prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("99999.9999"), places=4)


@given(o=prices, h=prices, low=prices, c=prices, v=st.integers(0, 10**12),
       minute=st.integers(0, 10**7))
def test_a_bar_survives_the_wire_exactly(o: Decimal, h: Decimal, low: Decimal, c: Decimal, v: int,
                                         minute: int) -> None:
    t = datetime.fromtimestamp(1_600_000_000 + minute * 60, UTC)
    bar = Bar("AAPL", "1min", t, o, h, low, c, v)
    assert to_bar(decode(encode(bar_message(bar, "massive-ws")))) == bar  # type: ignore[arg-type]


def test_predictions_and_orders_round_trip_and_orders_are_validated_on_the_way_in() -> None:
    p = Prediction("NVDA", 5, datetime(2024, 1, 2, 15, 0, 0, 123456, tzinfo=UTC), 480.25, -0.01, 0.002, 0.012,
                   0.002, 0.71, "1min", "tft:3", "ab" * 32)
    assert to_prediction(decode(encode(prediction_message(p, latency_ns=12_000_000)))) == p  # type: ignore[arg-type]
    o = Order("o-9", "NVDA", -3.0, type="limit", limit_price=481.0, created_ns=5, rationale="q50 < 0")
    assert to_order(decode(encode(order_message(o)))) == o  # type: ignore[arg-type]
    with pytest.raises(InvalidOrderError, match="quantity"):
        to_order(OrderMessage("o-10", "NVDA", 0.0))


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"type":"bar","ticker":"A","start_ns":1,"open":1,"high":1,"low":1,"close":1,"volume":1,"v":2}',
     "schema version 2 is not supported"),
    (b'{"type":"trade","x":1}', "invalid message"),
    (b'{"type":"bar","ticker":"A","start_ns":"x"}', "start_ns"),
    (b"\xff\xfe", "not a JSON message"),
])
def test_a_bad_payload_fails_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MessageError, match=reason):
        decode(raw)


def test_every_kind_is_tagged_and_keyed() -> None:
    bar = BarMessage("MSFT", 1, 1.0, 1.0, 1.0, 1.0, 1.0)
    comment = CommentMessage("c1", "hi", 1.0)
    assert encode(bar).startswith(b'{"type":"bar"') and bar.key == "MSFT"
    assert encode(comment).startswith(b'{"type":"comment"') and comment.key == "c1"


def test_a_batch_decodes_as_each_payload_would_alone() -> None:
    good = encode(BarMessage("AAPL", 1, 1.0, 1.0, 1.0, 1.0, 0.0))
    newer = good.replace(b'"v":1', b'"v":2')
    for raws in ([good, good], [good, b"{", good], [good, newer], [good, b"1,2"], [b'{"type":"fill"}', good], []):
        ids = [f"1-{k}" for k in range(len(raws))]
        one_by_one = [make_delivery("market_data", i, r) for i, r in zip(ids, raws, strict=True)]
        assert make_deliveries("market_data", ids, raws) == (one_by_one, sum(d.error is not None
                                                                             for d in one_by_one))


def test_a_no_forecast_prediction_carries_its_reason_and_a_payload_without_one_still_decodes() -> None:
    from tftrade.stream.messages import PredictionMessage

    none = PredictionMessage("NVDA", 60, 0, 480.25, 0.0, 0.0, 0.0, 0.0, 0.0, reason="warm-up: 3 of 95 clean bars")
    assert decode(encode(none)) == none and b'"reason":"warm-up' in encode(none)
    older = (b'{"type":"prediction","ticker":"NVDA","as_of_ns":60,"horizon":0,"current_price":480.25,"q10":0.0,'
             b'"q50":0.0,"q90":0.0,"predicted_return":0.0,"confidence_score":0.0,"v":1}')  # before `reason` existed
    got = decode(older)
    assert isinstance(got, PredictionMessage) and got.reason == "" and got.horizon == 0
    assert decode_many([older, encode(none)]) == [got, none]
