"""The broker port: what the order manager, the backtest and live trading need from a broker.

Implementations: :class:`~tftrade.execution.paper.PaperBroker` (simulated, in process) and
:class:`~tftrade.execution.alpaca.AlpacaBroker`. Both also offer ``drain_executions()``,
``orders()``, ``position_details()`` and ``cancel_all()``, which the journal and reconciliation use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tftrade.core.orders import Fill, Order, OrderState, OrderStatus
from tftrade.execution.errors import BrokerUnavailable, ExecutionError

__all__ = ["Broker", "BrokerOrder", "BrokerPosition", "BrokerUnavailable", "Execution", "ExecutionError",
           "cancel_many"]


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


@dataclass(frozen=True, slots=True)
class Execution:
    """A fill as a broker reports it, with an id that is the same however often it is observed.

    ``execution_id`` is ``<order id>@<cumulative filled quantity>``: the stream and a later REST
    look-up of the same fill give the same id, so the journal stores it once.
    ``cumulative`` is the order's signed filled quantity after this fill.
    """

    fill: Fill
    execution_id: str
    broker_order_id: str | None
    cumulative: float
    complete: bool


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as the broker sees it (``tftrade orders`` shows these beside the journal)."""

    broker_order_id: str
    client_order_id: str
    ticker: str
    quantity: float  # signed
    order_type: str
    limit_price: float | None
    state: OrderState
    filled_quantity: float  # signed
    average_price: float | None
    submitted_ns: int
    raw_status: str = ""

    @property
    def is_open(self) -> bool:
        """True while it can still fill."""
        return self.state in ("new", "partially_filled")


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    """A position at the broker: signed shares and average entry price."""

    ticker: str
    quantity: float
    average_price: float


def cancel_many(broker: object, client_order_ids: Iterable[str]) -> int:
    """Cancel orders through ``broker.cancel_many`` when it has one (one round trip), else one by one.

    Returns how many the broker counted (its own figure) or how many were asked to cancel.
    """
    many = getattr(broker, "cancel_many", None)
    if many is not None:
        n: int = many(client_order_ids)
        return n
    ids = list(client_order_ids)
    for cid in ids:
        broker.cancel(cid)  # type: ignore[attr-defined]
    return len(ids)
