"""A broker wrapper that publishes every order placed (``orders``) and every fill (``fills``) on the bus."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from tftrade.core.orders import Fill, Order, OrderStatus
from tftrade.execution.broker import Broker, cancel_many
from tftrade.stream.bus import Bus
from tftrade.stream.messages import FillMessage, OrderMessage
from tftrade.trading.feed import BarEvent
from tftrade.trading.fills import FillSource


def order_message(o: Order) -> OrderMessage:
    """The bus record of an order."""
    return OrderMessage(o.client_order_id, o.ticker, o.quantity, o.type, o.limit_price, o.created_ns,
                        o.rationale)


def fill_message(f: Fill) -> FillMessage:
    """The bus record of a fill."""
    return FillMessage(f.client_order_id, f.ticker, f.quantity, f.price, f.commission, f.timestamp_ns)


class PublishingBroker:
    """Forwards to ``inner`` and publishes the orders it accepts (``bus=None``: none); ``on_orders`` sees them."""

    def __init__(self, inner: Broker, bus: Bus | None,
                 on_orders: Callable[[Sequence[Order]], None] | None = None) -> None:
        self.inner, self.bus, self._on_orders = inner, bus, on_orders

    def _sent(self, orders: Sequence[Order]) -> None:
        if orders:
            if self.bus is not None:
                self.bus.publish_many("orders", [order_message(o) for o in orders])
            if self._on_orders is not None:
                self._on_orders(orders)

    def submit(self, order: Order) -> OrderStatus:
        """Place one order."""
        status = self.inner.submit(order)
        if status.state != "rejected":
            self._sent([order])
        return status

    def submit_many(self, orders: Sequence[Order]) -> list[OrderStatus]:
        """Place orders in one call when the inner broker can; rejected ones are not published."""
        many = getattr(self.inner, "submit_many", None)
        statuses: list[OrderStatus] = many(orders) if many is not None else [self.inner.submit(o) for o in orders]
        self._sent([o for o, s in zip(orders, statuses, strict=True) if s.state != "rejected"])
        return statuses

    def cancel(self, client_order_id: str) -> OrderStatus:
        """Cancel one order."""
        return self.inner.cancel(client_order_id)

    def cancel_many(self, client_order_ids: Iterable[str]) -> int:
        """Cancel many orders."""
        return cancel_many(self.inner, client_order_ids)

    def status(self, client_order_id: str) -> OrderStatus:
        """Status of an order."""
        return self.inner.status(client_order_id)

    def positions(self) -> dict[str, float]:
        """Broker positions."""
        return self.inner.positions()

    def cash(self) -> float:
        """Broker cash."""
        return self.inner.cash()


class PublishingFills:
    """Forwards a fill source and publishes each fill on ``fills``."""

    def __init__(self, inner: FillSource, bus: Bus) -> None:
        self.inner, self.bus = inner, bus

    def fills(self, event: BarEvent) -> list[Fill]:
        """The inner source's fills, published."""
        got = self.inner.fills(event)
        if got:
            self.bus.publish_many("fills", [fill_message(f) for f in got])
        return got
