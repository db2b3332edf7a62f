"""Between the domain types of :mod:`tftrade.core` and the bus records, both ways.

Examples
--------
>>> from tftrade.core.orders import Fill
>>> f = Fill("o-1", "AAPL", -5.0, 190.25, 0.1, 1_704_207_600_000_000_000)
>>> to_fill(decode(encode(fill_message(f)))) == f
True
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tftrade.core.orders import Fill, Order, OrderType
from tftrade.core.prediction import Prediction
from tftrade.core.types import PRICE_SCALE, Bar, parse_timeframe
from tftrade.stream.messages import BarMessage, FillMessage, OrderMessage, PredictionMessage, decode, encode

__all__ = ["bar_message", "decode", "encode", "fill_message", "order_message", "prediction_message", "to_bar",
           "to_fill", "to_order", "to_prediction"]
_QUANT = Decimal(1).scaleb(-PRICE_SCALE)


def _ns(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1_000


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=(ns // 1_000) % 1_000_000)


def bar_message(bar: Bar, source: str = "", received_ns: int = 0) -> BarMessage:
    """A :class:`~tftrade.core.types.Bar` as a bus record."""
    return BarMessage(bar.ticker, _ns(bar.window_start), float(bar.open), float(bar.high), float(bar.low),
                      float(bar.close), float(bar.volume), timeframe=bar.timeframe, source=source,
                      received_ns=received_ns)


def to_bar(msg: BarMessage) -> Bar:
    """A bar record as an exact :class:`~tftrade.core.types.Bar` (prices to 1/10,000)."""
    def price(x: float) -> Decimal:
        return Decimal(repr(x)).quantize(_QUANT)
    return Bar(msg.ticker, parse_timeframe(msg.timeframe), _dt(msg.start_ns), price(msg.open), price(msg.high),
               price(msg.low), price(msg.close), int(msg.volume))


def prediction_message(p: Prediction, latency_ns: int | None = None) -> PredictionMessage:
    """A :class:`~tftrade.core.prediction.Prediction` as a bus record."""
    return PredictionMessage(p.ticker, _ns(p.as_of), p.horizon, p.current_price, p.q10, p.q50, p.q90,
                             p.predicted_return, p.confidence_score, timeframe=p.timeframe,
                             model_version=p.model_version, features_hash=p.features_hash, latency_ns=latency_ns)


def to_prediction(msg: PredictionMessage) -> Prediction:
    """A prediction record as a :class:`~tftrade.core.prediction.Prediction`."""
    return Prediction(msg.ticker, msg.horizon, _dt(msg.as_of_ns), msg.current_price, msg.q10, msg.q50, msg.q90,
                      msg.predicted_return, msg.confidence_score, msg.timeframe, msg.model_version,
                      msg.features_hash)


def order_message(o: Order) -> OrderMessage:
    """An :class:`~tftrade.core.orders.Order` as a bus record."""
    return OrderMessage(o.client_order_id, o.ticker, o.quantity, order_type=o.type, limit_price=o.limit_price,
                        created_ns=o.created_ns, rationale=o.rationale)


def to_order(msg: OrderMessage) -> Order:
    """An order record as a validated :class:`~tftrade.core.orders.Order` (raises ``InvalidOrderError``)."""
    order_type: OrderType
    if msg.order_type == "limit":
        order_type = "limit"
    elif msg.order_type == "market":
        order_type = "market"
    else:
        raise ValueError(f"order {msg.client_order_id}: order_type {msg.order_type!r} is not market or limit")
    return Order(msg.client_order_id, msg.ticker, msg.quantity, type=order_type, limit_price=msg.limit_price,
                 created_ns=msg.created_ns, rationale=msg.rationale)


def fill_message(f: Fill) -> FillMessage:
    """A :class:`~tftrade.core.orders.Fill` as a bus record."""
    return FillMessage(f.client_order_id, f.ticker, f.quantity, f.price, f.commission, f.timestamp_ns)


def to_fill(msg: FillMessage) -> Fill:
    """A fill record as a validated :class:`~tftrade.core.orders.Fill`."""
    return Fill(msg.client_order_id, msg.ticker, msg.quantity, msg.price, msg.commission, msg.timestamp_ns)
