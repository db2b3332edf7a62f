"""Hooks that put the audit trail around the trading loop without changing it.

:class:`AuditedBroker` wraps any :class:`~tftrade.execution.broker.Broker`: every order
submitted is recorded as an intent before it goes out and with the broker's answer after,
every cancel with its resulting state, and :meth:`AuditedBroker.record_fills` records
fills. :func:`gate_result` records the risk gate's verdicts for a decision. The trading
loop (or the backtest) is handed the wrapped broker and the sink; nothing earlier in the
pipeline imports this package.

Examples
--------
>>> from tftrade.execution.paper import PaperBroker
>>> from tftrade.core.orders import Order
>>> from tftrade.compliance.audit_log import MemoryAuditLog
>>> log = MemoryAuditLog()
>>> broker = AuditedBroker(PaperBroker(cash=10_000.0), log)
>>> _ = broker.submit(Order("X-1", "X", 5.0))
>>> [e.payload["state"] for e in log.story("X-1")]
['intent', 'new']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tftrade.compliance import audit_events
from tftrade.compliance.audit_chain import AuditEntry
from tftrade.compliance.audit_log import AuditSink
from tftrade.core.orders import Fill, Order, OrderStatus
from tftrade.execution.broker import Broker
from tftrade.risk.gate import GateResult


class AuditedBroker:
    """A :class:`Broker` that records order intents, states and fills to ``sink``."""

    def __init__(self, broker: Broker, sink: AuditSink, account: str = "tftrade") -> None:
        self.broker, self.sink, self.account = broker, sink, account

    def submit(self, order: Order) -> OrderStatus:
        """Record the intent, submit, record the broker's answer."""
        audit_events.order_intent(self.sink, order)
        status = self.broker.submit(order)
        audit_events.order_state(self.sink, status)
        return status

    def submit_many(self, orders: Sequence[Order]) -> list[OrderStatus]:
        """:meth:`submit` each order in turn."""
        return [self.submit(o) for o in orders]

    def cancel(self, client_order_id: str) -> OrderStatus:
        """Cancel and record the resulting state."""
        status = self.broker.cancel(client_order_id)
        audit_events.order_state(self.sink, status)
        return status

    def status(self, client_order_id: str) -> OrderStatus:
        """The broker's status (not recorded: reading changes nothing)."""
        return self.broker.status(client_order_id)

    def positions(self) -> dict[str, float]:
        """The broker's positions."""
        return self.broker.positions()

    def cash(self) -> float:
        """The broker's cash."""
        return self.broker.cash()

    def record_fills(self, fills: Iterable[Fill]) -> list[AuditEntry]:
        """Record fills (call with what the broker reported on a bar or a stream event)."""
        return [audit_events.fill(self.sink, f, self.account) for f in fills]


def gate_result(sink: AuditSink, result: GateResult, tickers: Sequence[str],
                order_ids: Sequence[str | None]) -> list[AuditEntry]:
    """Record the gate's verdict on each proposed order (``order_ids[index]``, None if none was sent).

    The portfolio-level reasons (kill switch, drawdown breaker, VaR scaling) go with each verdict.
    """
    out = []
    for d in result.decisions:
        oid = order_ids[d.index]
        action = {"accept": "approved", "resize": "resized", "reject": "rejected"}[d.action]
        out.append(sink.append("risk_check", {
            "ticker": tickers[d.index], "action": action, "requested": d.requested, "approved": d.approved,
            "reasons": list(d.reasons), "portfolio_reasons": list(result.portfolio_reasons)},
            order_ids=[oid] if oid else []))
    return out
