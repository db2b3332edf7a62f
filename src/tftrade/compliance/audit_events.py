"""What to record, and how: one function per event the audit trail must hold.

Each takes the sink and the domain object and appends one entry with the order ids it
concerns, so ``tftrade audit show --order ID`` can tell the whole story of a trade: the
decision (signals, rationale, Black–Litterman inputs and outputs, model version, features
hash), the risk gate's verdict with its numbers, each order-intent state, each fill.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tftrade.compliance.audit_chain import AuditEntry
from tftrade.compliance.audit_log import AuditSink
from tftrade.core.orders import Fill, Order, OrderStatus
from tftrade.execution.lots import exact


def decision(sink: AuditSink, *, decided_ns: int, strategy_version: str, model_version: str | None,
             features_hash: str | None, targets: Mapping[str, Any], order_ids: Iterable[str] = (),
             rationale: Mapping[str, Any] | None = None, bl_inputs: Mapping[str, Any] | None = None,
             bl_outputs: Mapping[str, Any] | None = None) -> AuditEntry:
    """Record a decision: the targets, why (signals, rationale), and the model that produced them."""
    return sink.append("decision", {
        "decided_ns": decided_ns, "strategy_version": strategy_version, "model_version": model_version,
        "features_hash": features_hash, "targets": dict(targets), "rationale": dict(rationale or {}),
        "black_litterman": {"inputs": dict(bl_inputs or {}), "outputs": dict(bl_outputs or {})},
    }, order_ids=order_ids)


def risk_check(sink: AuditSink, *, order_id: str, ticker: str, action: str, requested: float, approved: float,
               reasons: Sequence[str], numbers: Mapping[str, Any] | None = None) -> AuditEntry:
    """Record the risk gate's verdict on one order (``action``: approve, resize or reject)."""
    return sink.append("risk_check", {"ticker": ticker, "action": action, "requested": requested,
                                      "approved": approved, "reasons": list(reasons), "numbers": dict(numbers or {})},
                       order_ids=[order_id])


def order_intent(sink: AuditSink, order: Order, state: str = "intent") -> AuditEntry:
    """Record an order the system intends to submit (or has submitted: ``state``)."""
    return sink.append("order_intent", {
        "state": state, "ticker": order.ticker, "quantity": str(exact(order.quantity)), "type": order.type,
        "limit_price": None if order.limit_price is None else str(exact(order.limit_price)),
        "created_ns": order.created_ns, "rationale": order.rationale}, order_ids=[order.client_order_id])


def order_state(sink: AuditSink, status: OrderStatus) -> AuditEntry:
    """Record a broker-reported order state (new, partially filled, filled, cancelled, rejected)."""
    return sink.append("order_intent", {
        "state": status.state, "filled_quantity": str(exact(status.filled_quantity)),
        "average_price": None if status.average_price is None else str(exact(status.average_price)),
        "reason": status.reason}, order_ids=[status.client_order_id])


def fill(sink: AuditSink, f: Fill, account: str = "tftrade") -> AuditEntry:
    """Record a fill (exact decimals of the broker's numbers)."""
    return sink.append("fill", {
        "account": account, "ticker": f.ticker, "quantity": str(exact(f.quantity)), "price": str(exact(f.price)),
        "commission": str(exact(f.commission)), "timestamp_ns": f.timestamp_ns}, order_ids=[f.client_order_id])


def config_change(sink: AuditSink, *, section: str, before: Mapping[str, Any], after: Mapping[str, Any],
                  changed_by: str) -> AuditEntry:
    """Record a configuration change (only the keys that differ are kept, both values)."""
    keys = sorted(set(before) | set(after))
    diff = {k: {"before": before.get(k), "after": after.get(k)} for k in keys if before.get(k) != after.get(k)}
    return sink.append("config_change", {"section": section, "changes": diff, "changed_by": changed_by})


def model_promotion(sink: AuditSink, *, model: str, version: str, previous: str | None, approved_by: str,
                    metrics: Mapping[str, Any] | None = None, recorded_seq: int | None = None,
                    error: str | None = None) -> AuditEntry:
    """Record a model promotion (champion replaced), with the evidence (``metrics``) and who approved it.

    With ``recorded_seq`` (the ``seq`` of that promotion's entry), record instead that it was not carried out:
    ``"outcome": "not_applied"``, ``error`` (why) and ``recorded_seq``, no metrics.
    """
    head = {"model": model, "version": version, "previous": previous}
    if recorded_seq is None:
        return sink.append("model_promotion", {**head, "metrics": dict(metrics or {}), "approved_by": approved_by})
    return sink.append("model_promotion", {**head, "approved_by": approved_by, "outcome": "not_applied",
                                           "error": error, "recorded_seq": recorded_seq})
