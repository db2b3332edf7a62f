"""Reconciliation: the journal and its lot ledger against the broker's orders, positions and fills.

Run on every start and on a timer (:class:`Reconciler`). In order:

1. The broker is told which fills the journal already holds, its recent orders are read (paged)
   and every order the journal has open is found there or looked up by client id. Fills the
   journal lacks (they happened while we were down, or the stream dropped them) are **adopted**
   (``adopted_fill`` events). An order the broker has but whose submit outcome was unknown
   is ``resolved``; one the broker never received is ``abandoned`` (it is not sent late: its decision is stale).
2. Broker orders whose client id the journal does not know are reported as **external**.
3. The ledger's positions (journaled fills) are compared with the broker's.
4. Under the configured policy a difference (or an open external order) **halts** trading
   (``broker.halted`` is set; the kill switch is not touched), is **adopted** (a tagged
   ``reconcile-adopt`` adjustment in the journal makes the ledger equal the broker), or is
   **corrected** (tagged ``reconcile`` market orders make the broker equal the ledger).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from tftrade.core.orders import Fill, Order
from tftrade.execution.broker import BrokerOrder
from tftrade.execution.errors import BrokerUnavailable, ExecutionError, UnknownOrderError
from tftrade.execution.journal import dec
from tftrade.execution.journaled import JournaledBroker

__all__ = ["OrderDifference", "PositionDifference", "ReconcileReport", "Reconciler", "reconcile"]

log = logging.getLogger(__name__)
POLICIES = ("halt", "adopt", "correct")


@dataclass(frozen=True, slots=True)
class PositionDifference:
    """Ledger and broker disagree on a ticker (exact quantities)."""

    ticker: str
    ledger: Decimal
    broker: Decimal

    @property
    def difference(self) -> Decimal:
        """Broker minus ledger."""
        return self.broker - self.ledger


@dataclass(frozen=True, slots=True)
class OrderDifference:
    """An order whose journal state and broker state disagree after the look-ups."""

    client_order_id: str
    journal_state: str
    broker_state: str
    note: str


@dataclass(frozen=True)
class ReconcileReport:
    """What one reconciliation found and did."""

    policy: str
    adopted_fills: tuple[Fill, ...] = ()
    resolved: tuple[str, ...] = ()
    abandoned: tuple[str, ...] = ()
    unreachable: tuple[str, ...] = ()
    external_orders: tuple[BrokerOrder, ...] = ()
    order_differences: tuple[OrderDifference, ...] = ()
    position_differences: tuple[PositionDifference, ...] = ()
    corrections: tuple[str, ...] = ()
    halted: str = ""
    seconds: float = 0.0
    broker_orders: int = field(default=0)

    @property
    def in_sync(self) -> bool:
        """True when nothing differs and no external order is open."""
        return not (self.position_differences or self.order_differences or self.unreachable
                    or any(o.is_open for o in self.external_orders))


def reconcile(broker: JournaledBroker, *, policy: str = "halt", since_ns: int | None = None,
              now_ns: Callable[[], int] = time.time_ns) -> ReconcileReport:
    """Reconcile once (see the module docstring); returns the report and applies ``policy``."""
    if policy not in POLICIES:
        raise ExecutionError(f"reconcile policy {policy!r} is not one of {', '.join(POLICIES)}")
    t0 = time.perf_counter()
    try:
        return _reconcile(broker, policy, since_ns, now_ns, t0)
    except BrokerUnavailable as e:  # cannot compare: under "halt", trading stops until a run succeeds
        halted = f"reconciliation: broker unreachable ({e})" if policy == "halt" else ""
        if halted:
            broker.halted = halted
        log.error("reconciliation failed: %s", e)
        return ReconcileReport(policy, unreachable=("<broker>",), halted=halted, seconds=time.perf_counter() - t0)


def _reconcile(broker: JournaledBroker, policy: str, since_ns: int | None, now_ns: Callable[[], int],
               t0: float) -> ReconcileReport:
    journal = broker.journal
    broker.drain_fills()  # what the broker already reported is booked normally first
    broker.seed()
    resolved, abandoned, unreachable, diffs = [], [], [], []
    try:  # one paged read (500 orders a request) instead of a look-up per order; it observes every fill
        broker_orders = broker.orders(since_ns=since_ns)
    except (AttributeError, NotImplementedError):
        broker_orders = []
    listed = {b.client_order_id: b.state for b in broker_orders}
    for o in journal.open_orders():
        cid = o.intent.client_order_id
        try:
            state = listed[cid] if cid in listed else broker.inner.status(cid).state
        except UnknownOrderError:
            if o.state in ("intent", "submitted", "unknown"):
                journal.append(cid, "abandoned", reason="never reached the broker; not sent after the fact")
                abandoned.append(cid)
            else:
                journal.append(cid, "abandoned", reason=f"journal says {o.state} but the broker has no such order")
                diffs.append(OrderDifference(cid, o.state, "missing", "broker has no order under this client id"))
            continue
        except BrokerUnavailable as e:
            unreachable.append(cid)
            log.warning("reconcile: %s not looked up: %s", cid, e)
            continue
        if o.state in ("intent", "submitted", "unknown"):
            journal.append(cid, "resolved", reason=f"found at the broker ({state})")
            resolved.append(cid)
    adopted = tuple(broker.drain_fills(event="adopted_fill"))
    broker.sync_states()
    known = {i.client_order_id for i in journal.intents()}
    external = tuple(b for b in broker_orders if b.client_order_id not in known)
    ledger = journal.positions()
    details = broker.position_details()
    theirs = {t: dec(p.quantity) for t, p in details.items()}
    zero = Decimal(0)
    pos_diffs = tuple(PositionDifference(t, ledger.get(t, zero), theirs.get(t, zero))
                      for t in sorted(set(ledger) | set(theirs)) if ledger.get(t, zero) != theirs.get(t, zero))
    corrections: list[str] = []
    halted = ""
    stamp = now_ns()
    open_external = [o for o in external if o.is_open]
    if pos_diffs or diffs or open_external:
        if policy == "halt":
            halted = (f"reconciliation: {len(pos_diffs)} position difference(s), {len(diffs)} order difference(s), "
                      f"{len(open_external)} open external order(s)")
            broker.halted = halted
            log.error("trading halted: %s", halted)
        elif policy == "adopt":
            for d in pos_diffs:
                cid = f"reconcile-adopt-{d.ticker[:10]}-{stamp}"
                price = details[d.ticker].average_price if d.ticker in details else 0.0
                price = price if price > 0 else 1.0
                order = Order(cid, d.ticker, float(d.difference), created_ns=stamp,
                              rationale="reconciliation: adopt the broker's position")
                journal.record_intent(order, decision_id=f"reconcile-{stamp}", tag="reconcile-adopt",
                                      broker=broker.name)
                journal.append(cid, "external", reason="position held at the broker, unknown to the ledger")
                journal.append_fill(Fill(cid, d.ticker, float(d.difference), price, 0.0, stamp), f"adopt@{stamp}",
                                    event="adopted_fill", reason="adopted by reconciliation")
                corrections.append(cid)
        elif (killed := broker.kill_switch.reason()) and pos_diffs:
            # correct, but the kill switch stops every new order (only its own flatten passes): report, send nothing
            halted = f"{killed}; {len(pos_diffs)} position difference(s) not corrected"
            log.error("reconciliation: %s", halted)
        else:  # correct: make the broker match the ledger, with tagged orders
            for d in pos_diffs:
                cid = f"reconcile-{d.ticker[:10]}-{stamp}"
                order = Order(cid, d.ticker, float(-d.difference), created_ns=stamp,
                              rationale="reconciliation: bring the broker to the ledger")
                broker.submit(order, decision_id=f"reconcile-{stamp}", tag="reconcile", override_halt=True)
                corrections.append(cid)
    elif broker.halted.startswith("reconciliation"):
        broker.halted = ""  # in sync again: a reconciliation halt lifts itself; the kill switch does not
    return ReconcileReport(policy, adopted, tuple(resolved), tuple(abandoned), tuple(unreachable), external,
                           tuple(diffs), pos_diffs, tuple(corrections), halted, time.perf_counter() - t0,
                           len(broker_orders))


class Reconciler:
    """Reconcile on start and then every ``interval_s`` (call :meth:`maybe_run` from the loop; no thread).

    ``on_alert(report)`` is called whenever a run is not in sync.
    """

    def __init__(self, broker: JournaledBroker, *, policy: str = "halt", interval_s: float = 60.0,
                 since_days: float = 3.0, clock: Callable[[], float] = time.monotonic,
                 on_alert: Callable[[ReconcileReport], None] | None = None) -> None:
        self.broker, self.policy, self.interval_s = broker, policy, interval_s
        self.since_days = since_days
        self._clock = clock
        self._last: float | None = None
        self.on_alert = on_alert
        self.last_report: ReconcileReport | None = None

    def run(self) -> ReconcileReport:
        """Reconcile now."""
        since = time.time_ns() - int(self.since_days * 86_400e9)
        report = reconcile(self.broker, policy=self.policy, since_ns=since)
        self._last = self._clock()
        self.last_report = report
        if not report.in_sync and self.on_alert is not None:
            self.on_alert(report)
        return report

    def maybe_run(self) -> ReconcileReport | None:
        """Reconcile if never run or the interval has passed."""
        if self._last is None or self._clock() - self._last >= self.interval_s:
            return self.run()
        return None
