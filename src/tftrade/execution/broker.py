"""The broker port: what the order manager, the backtest and live trading need from a broker.

Implementations: :class:`~tftrade.execution.paper.PaperBroker` (simulated, in process).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tftrade.core.orders import Order, OrderStatus
from tftrade.execution.errors import BrokerUnavailable, ExecutionError

__all__ = ["Broker", "BrokerUnavailable", "ExecutionError"]


@runtime_checkable
class Broker(Protocol):
    """A place that accepts orders and keeps positions and cash.

    ``submit`` is idempotent on ``client_order_id``: re-submitting an id never creates
    a second order and returns the status of the existing one. Transient failures raise
    :class:`BrokerUnavailable`; everything else raises :class:`ExecutionError`.
    """

    def submit(self, order: Order) -> OrderStatus:
        """Place ``order`` (or return the status of the order already placed under its id)."""
        ...

    def cancel(self, client_order_id: str) -> OrderStatus:
        """Cancel what is still open of an order; a finished order is returned unchanged."""
        ...

    def status(self, client_order_id: str) -> OrderStatus:
        """The current status of an order."""
        ...

    def positions(self) -> dict[str, float]:
        """Shares held per ticker (signed; non-zero positions only)."""
        ...

    def cash(self) -> float:
        """Cash balance (negative when borrowing on margin)."""
        ...
