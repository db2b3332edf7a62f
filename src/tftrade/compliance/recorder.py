"""The trading loop's recorder that writes the audit trail: decisions, gate checks, orders, fills.

:class:`AuditRecorder` implements :class:`~tftrade.trading.recorder.Recorder`. What the loop
reports during one bar is buffered and appended to the :class:`~tftrade.compliance.audit_log.AuditSink`
in one batch when the bar is marked (one transaction for an :class:`~tftrade.compliance.audit_log.AuditLog`),
in the order it happened:

* ``fill`` — one per trade booked at the bar (exact decimals of the signed quantity, price,
  commission, the realised P&L of a closing trade and the order's rationale, e.g. a stop's);
* ``decision`` — the targets (weight per ticker it sets; a ticker left alone is not listed), the rationale per
  ticker, the notes, the strategy version, the model version (that of the forecasts the decision
  read, :attr:`~tftrade.strategy.contract.Targets.model_version`, else the recorder's own) and
  features hash when known, and the ids of every order the decision led to (placed or rejected by the gate);
* ``risk_check`` — the gate's verdict per order: ``resize`` / ``reject`` with the requested and
  approved shares and the reasons; with ``gated=True`` every placed order without a gate
  event gets an ``approve`` entry;
* ``order_intent`` — the broker's state of each order placed (``new``, ``filled``, ...).

Marks are not recorded (the equity curve is in the run's results); notes outside a decision
become ``note`` entries.

Examples
--------
>>> from tftrade.compliance.audit_log import MemoryAuditLog
>>> log = MemoryAuditLog()
>>> rec = AuditRecorder(log, ("AAPL", "MSFT"), strategy_version="v1")
>>> rec.gate(5, "AAPL", "reject", 10.0, 0.0, "position limit")
>>> rec.flush()
1
>>> [e.kind for e in log.entries()], log.entries()[0].payload["action"]
(['risk_check'], 'reject')
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from tftrade.compliance.audit_log import AuditSink
from tftrade.core.orders import OrderStatus, TradeRecord
from tftrade.core.types import Float64Array
from tftrade.execution.lots import exact
from tftrade.strategy.contract import Targets
from tftrade.trading.feed import BarEvent

OrderIdFn = Callable[[int, str], str]
"""``(decision_ns, ticker) -> client order id``: names the order a rejected delta would have been."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")  # as the order manager makes an id's ticker prefix
_Item = tuple[str, dict[str, Any], list[str]]


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _dec(x: float | None) -> str | None:
    return None if x is None or not math.isfinite(x) else str(exact(x))


class AuditRecorder:
    """A :class:`~tftrade.trading.recorder.Recorder` that appends to an audit chain once per bar.

    Parameters
    ----------
    sink
        The chain: an :class:`~tftrade.compliance.audit_log.AuditLog` (database) or a
        :class:`~tftrade.compliance.audit_log.MemoryAuditLog` (a backtest's own chain). A sink
        with ``append_many`` gets one call per bar.
    tickers
        The loop's universe, in its column order (names the target weights).
    strategy_version, model_version, features_hash
        Recorded with every decision (``None`` when not known); a decision whose targets name the model
        version of the forecasts it read (live: the version the predictions on the bus carried) records
        that one instead of ``model_version``.
    order_id
        How the order manager names an order (``(decision_ns, ticker) -> id``); lets a rejected
        order's gate check be found under the id it would have had. Without it the entry is
        filed under ``rejected:<ticker>:<ns>``.
    gated
        True when the loop runs a risk gate: placed orders the gate left alone get an
        ``approve`` check.
    account
        The account name recorded with fills.
    """

    def __init__(self, sink: AuditSink, tickers: Sequence[str], *, strategy_version: str = "",
                 model_version: str | None = None, features_hash: str | None = None,
                 order_id: OrderIdFn | None = None, gated: bool = False, account: str = "tftrade") -> None:
        self.sink = sink
        self.tickers = tuple(tickers)
        self.strategy_version, self.model_version, self.features_hash = strategy_version, model_version, features_hash
        self.order_id, self.gated, self.account = order_id, gated, account
        self._by_prefix = {_UNSAFE.sub("_", t)[:10]: t for t in self.tickers}
        self.appended = 0
        """Entries appended so far."""
        self._fills: list[_Item] = []
        self._decisions: list[tuple[int, Targets]] = []
        self._gates: list[tuple[int, str, str, float, float, str]] = []
        self._orders: list[tuple[int, OrderStatus]] = []
        self._notes: list[str] = []

    # -- the Recorder protocol --------------------------------------------------------------------

    def trades(self, records: Sequence[TradeRecord]) -> None:
        """Buffer a ``fill`` entry per trade."""
        acct = self.account
        for r in records:
            size = r.exact_quantity if r.exact_quantity is not None else float(r.quantity)
            signed = size if r.action in ("BUY", "COVER") else -size
            self._fills.append(("fill", {
                "account": acct, "ticker": r.ticker, "action": r.action, "quantity": _dec(signed),
                "price": _dec(r.price), "commission": _dec(r.commission), "timestamp_ns": r.timestamp_ns,
                "realised_pnl": _dec(r.pnl), "strategy_version": r.strategy_version, "rationale": r.rationale},
                [r.order_id]))

    def decision(self, event: BarEvent, targets: Targets) -> None:
        """Buffer the decision (written with the ids of the orders it leads to)."""
        self._decisions.append((event.timestamp_ns, targets))

    def orders(self, event: BarEvent, statuses: Sequence[OrderStatus]) -> None:
        """Buffer the orders placed at ``event``."""
        ts = event.timestamp_ns
        self._orders.extend((ts, s) for s in statuses)

    def gate(self, timestamp_ns: int, ticker: str, action: str, requested: float, approved: float,
             reasons: str) -> None:
        """Buffer the gate's resize or rejection (or another check's, e.g. the wash-sale rule)."""
        self._gates.append((timestamp_ns, ticker, action, requested, approved, reasons))

    def note(self, text: str) -> None:
        """Buffer a note (kept with the bar's decision, or as a ``note`` entry)."""
        self._notes.append(text)

    def mark(self, event: BarEvent, equity: float, cash: float, value: Float64Array, beta: float) -> None:
        """End of the bar: append what it produced."""
        if self._fills or self._decisions or self._gates or self._orders or self._notes:
            self.flush()

    # -- writing ------------------------------------------------------------------------------------

    def flush(self) -> int:
        """Append everything buffered (one batch) and return how many entries were written."""
        items = self._items()
        self._fills, self._decisions, self._gates, self._orders, self._notes = [], [], [], [], []
        if not items:
            return 0
        many = getattr(self.sink, "append_many", None)
        if many is not None:
            many([(k, p, ids) for k, p, ids in items])
        else:
            for k, p, ids in items:
                self.sink.append(k, p, order_ids=ids)
        self.appended += len(items)
        return len(items)

    def _gate_id(self, ts: int, ticker: str, placed: dict[str, str]) -> str:
        if ticker in placed:
            return placed[ticker]
        if self.order_id is not None:
            return self.order_id(ts, ticker)
        return f"rejected:{ticker}:{ts}"

    def _items(self) -> list[_Item]:
        items: list[_Item] = list(self._fills)
        placed = {self._ticker_of(s.client_order_id): s.client_order_id for _, s in self._orders}
        checks: list[_Item] = []
        checked: set[str] = set()
        for ts, ticker, action, requested, approved, reasons in self._gates:
            oid = self._gate_id(ts, ticker, placed)
            checked.add(oid)
            checks.append(("risk_check", {
                "ticker": ticker, "action": action, "requested": _num(requested), "approved": _num(approved),
                "reasons": [r for r in reasons.split("; ") if r], "timestamp_ns": ts}, [oid]))
        if self.gated and self._decisions:
            for ts, s in self._orders:
                if s.client_order_id not in checked:
                    ticker = self._ticker_of(s.client_order_id)
                    checks.append(("risk_check", {"ticker": ticker, "action": "approve", "requested": None,
                                                  "approved": None, "reasons": [], "timestamp_ns": ts},
                                   [s.client_order_id]))
        related = sorted({ids[0] for _, _, ids in checks} | {s.client_order_id for _, s in self._orders})
        notes = list(self._notes)
        for i, (ts, targets) in enumerate(self._decisions):
            items.append(("decision", self._decision_payload(ts, targets, notes if i == 0 else []), related))
        if not self._decisions:
            items.extend(("note", {"text": n}, []) for n in notes)
        items.extend(checks)
        for _, s in self._orders:
            items.append(("order_intent", {
                "state": s.state, "filled_quantity": _dec(s.filled_quantity),
                "average_price": _dec(s.average_price), "reason": s.reason}, [s.client_order_id]))
        return items

    def _decision_payload(self, ts: int, targets: Targets, notes: Iterable[str]) -> dict[str, Any]:
        tickers, w = self.tickers, np.asarray(targets.weights, dtype=np.float64)
        set_ = np.flatnonzero(np.isfinite(w)).tolist()  # NaN = leave alone: not listed (keeps entries small)
        weights = {tickers[i]: float(w[i]) for i in set_ if i < len(tickers)}
        rationale = {t: r for t, r in zip(tickers, targets.rationale, strict=False) if r}
        model = targets.model_version if targets.model_version is not None else self.model_version
        return {"decided_ns": ts, "strategy_version": self.strategy_version, "model_version": model,
                "features_hash": self.features_hash, "targets": weights, "rationale": rationale,
                "notes": list(targets.notes) + [n for n in notes if n not in targets.notes]}

    def _ticker_of(self, client_order_id: str) -> str:
        """The ticker an order manager's id names (``<ticker prefix>-<ns>-<hash>``)."""
        prefix = client_order_id.rsplit("-", 2)[0]
        return self._by_prefix.get(prefix, prefix)
