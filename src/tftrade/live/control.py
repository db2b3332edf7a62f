"""The brakes on a live trading loop: operators' pause and kill, the kill switch, the drawdown breaker.

:class:`LiveControl` is read before each decision and at every bar:

* the desk's ``control`` document (``POST /pause``, ``/resume``, ``/kill`` on the service, or
  :meth:`~tftrade.stream.desk.Desk.set_control`): **paused** → no new decisions (stop-loss
  exits still go out; open orders and positions stay); **killed** → the kill path once
  (cancel every open order, with ``flatten`` close every position) and no new orders at all;
* execution's kill switch (the kill file ``<home>/KILL`` that ``tftrade kill`` writes, the
  setting ``TFTRADE_EXECUTION__KILL_SWITCH``): the same as killed;
* the drawdown breaker: when equity falls ``max_drawdown`` (the risk gate's limit) below its
  peak, the same kill path runs, a ``drawdown_breaker`` event is published and the desk's
  control says killed, so the dashboard shows it and ``POST /resume`` is the way back. After a
  resume the breaker measures from the equity at the resume.

A resume (control no longer killed) releases the kill switch this process engaged for the desk
or the breaker; a kill file written by someone else stays until it is released
(``tftrade kill --release``). :class:`GuardedBroker` is what the order manager talks to: while
killed it refuses every order with a ``rejected`` status (nothing reaches the broker) instead of
raising, so the loop keeps marking the book. :class:`ControlledSession` closes the decision
window while paused or killed.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tftrade.core.clock import Clock
from tftrade.core.orders import Order, OrderStatus
from tftrade.core.types import Float64Array
from tftrade.execution.broker import Broker, cancel_many
from tftrade.execution.errors import TradingHalted
from tftrade.execution.journaled import JournaledBroker
from tftrade.execution.killswitch import KillSwitch, kill
from tftrade.stream.desk import Control, Desk
from tftrade.trading.feed import BarEvent
from tftrade.trading.recorder import NullRecorder
from tftrade.trading.session import AlwaysOpen, Session

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, object]], None]
REFUSED = "refused: "
"""Prefix of the reason of an order the guard refused (it never reached the broker)."""


@dataclass(frozen=True)
class KillOutcome:
    """What the kill path did."""

    reason: str
    cancelled: int
    flatten_orders: tuple[str, ...]


def kill_book(broker: Broker, switch: KillSwitch, *, reason: str, flatten: bool, now_ns: int) -> KillOutcome:
    """Engage ``switch``, cancel every open order and with ``flatten`` close every position.

    A :class:`~tftrade.execution.journaled.JournaledBroker` goes through execution's
    :func:`~tftrade.execution.killswitch.kill` (journaled, tagged ``kill-...`` orders); a plain
    broker (the in-process paper broker) is cancelled with ``cancel_all`` and flattened directly.
    """
    if isinstance(broker, JournaledBroker):
        report = kill(broker, broker.kill_switch, reason=reason, flatten=flatten, now_ns=now_ns)
        if broker.kill_switch is not switch:
            switch.engage(reason)
        return KillOutcome(reason, len(report.cancelled) + report.broker_cancelled, report.flatten_orders)
    switch.engage(reason)
    cancel_all = getattr(broker, "cancel_all", None)
    cancelled = int(cancel_all()) if cancel_all is not None else 0
    flat: list[str] = []
    if flatten:
        for ticker, qty in sorted(broker.positions().items()):
            cid = f"kill-{ticker[:10]}-{now_ns}"
            broker.submit(Order(cid, ticker, -qty, created_ns=now_ns, rationale=f"flatten: {reason}"))
            flat.append(cid)
    return KillOutcome(reason, cancelled, tuple(flat))


class LiveControl(NullRecorder):
    """Pause, kill and the drawdown breaker of one trading loop (see the module docstring).

    Parameters
    ----------
    broker
        The broker the kill path cancels at (and flattens through).
    switch
        Execution's kill switch (file and setting); engaged by every kill.
    clock
        Time of events and kill orders.
    desk
        Where operators' requests are read and events published (``None``: only the kill switch).
    max_drawdown
        The breaker's limit as a fraction (the gate's ``max_drawdown``); ``None`` disables it.
    emit
        Receives one JSON-able event per action (``tftrade live --json``).

    It is a recorder too: put it in the loop's fan-out so :meth:`mark` sees every equity mark.
    """

    def __init__(self, broker: Broker, switch: KillSwitch, clock: Clock, *, desk: Desk | None = None,
                 max_drawdown: float | None = None, emit: Emit | None = None) -> None:
        self.broker, self.switch, self.clock, self.desk = broker, switch, clock, desk
        self.max_drawdown = max_drawdown
        self._emit = emit
        self.lock = threading.RLock()
        """Held while the loop steps and while the kill path runs (they never interleave)."""
        self.control = Control()
        self.killed = ""
        """Why trading is killed now ('' while it is not)."""
        self.last_kill: KillOutcome | None = None
        self.killed_at_ns: int | None = None
        """The clock's time when the kill path last ran."""
        self._ours = False  # this process engaged the switch (desk kill or breaker): a resume releases it
        self._peak: float | None = None
        self.drawdown = 0.0

    # -- reading the brakes --------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """No new decisions (paused or killed)."""
        return self.control.paused or bool(self.killed)

    def refresh(self) -> None:
        """Read the desk's control and the kill switch; run the kill path or release it on a change."""
        with self.lock:
            if self.desk is not None:
                try:
                    self.control = self.desk.control()
                except Exception as e:  # a cache outage must not stop the loop: keep the last request
                    log.warning("desk control unreadable (%s); keeping %s", e, self.control)
            c = self.control
            if self.killed and not c.killed and self._ours:  # resumed by an operator
                self.switch.release()
                release = getattr(self.broker, "kill_switch", None)
                if isinstance(release, KillSwitch) and release is not self.switch:
                    release.release()
                self.killed, self._ours, self._peak = "", False, None
                self._event_line({"event": "resumed", "by": c.by})
            if self.killed:
                return
            if c.killed:
                self._ours = True
                self._kill(f"desk: {c.reason or 'kill requested'} (by {c.by or 'operator'})", c.flatten, event=None)
            elif self.switch.engaged:
                why = self.switch.reason()
                self._kill(why, False, event="kill_switch")

    def _kill(self, reason: str, flatten: bool, event: str | None) -> None:
        self.killed = reason
        self.killed_at_ns = self.clock.now_ns()
        outcome = kill_book(self.broker, self.switch, reason=reason, flatten=flatten, now_ns=self.clock.now_ns())
        self.last_kill = outcome
        log.error("trading killed: %s (%d open orders cancelled, %d flatten orders)", reason, outcome.cancelled,
                  len(outcome.flatten_orders))
        self._event_line({"event": "killed", "reason": reason, "cancelled": outcome.cancelled,
                          "flatten_orders": len(outcome.flatten_orders)})
        if event is not None and self.desk is not None:
            self.desk.event("kill_switch", reason, cancelled=outcome.cancelled, key=reason)

    def _event_line(self, payload: dict[str, object]) -> None:
        if self._emit is not None:
            self._emit(payload)

    # -- the drawdown breaker (the loop's marks) -----------------------------------------------
    def mark(self, event: BarEvent, equity: float, cash: float, value: Float64Array, beta: float) -> None:
        """Check the drawdown breaker at each mark."""
        if not math.isfinite(equity):
            return
        self._peak = equity if self._peak is None else max(self._peak, equity)
        self.drawdown = 1.0 - equity / self._peak if self._peak > 0 else 0.0
        if self.max_drawdown is None or self.killed or self.drawdown < self.max_drawdown:
            return
        with self.lock:
            reason = f"drawdown breaker: {self.drawdown:.2%} from peak {self._peak:,.2f} >= {self.max_drawdown:.2%}"
            self._ours = True
            if self.desk is not None:
                self.desk.set_control(Control(paused=True, killed=True, reason=reason, by="drawdown_breaker",
                                              at_ns=self.clock.now_ns()))
                self.desk.event("drawdown_breaker", reason, drawdown=self.drawdown, equity=equity,
                                peak=self._peak, key="drawdown_breaker")
                self.control = self.desk.control()
            self._kill(reason, False, event=None)
            self._event_line({"event": "drawdown_breaker", "drawdown": self.drawdown, "equity": equity})


class ControlledSession:
    """A session whose decision window closes while the control is paused or killed."""

    def __init__(self, inner: Session | None, control: LiveControl) -> None:
        self.inner: Session = inner or AlwaysOpen()
        self.control = control

    def can_decide(self, now_ns: int) -> bool:
        """Inside the inner window and neither paused nor killed (the control is read now, before the decision)."""
        self.control.refresh()
        return not self.control.paused and self.inner.can_decide(now_ns)

    def flatten_due(self, now_ns: int) -> bool:
        """The inner session's flatten, unless killed (the kill path did what it was asked)."""
        return not self.control.killed and self.inner.flatten_due(now_ns)


class GuardedBroker:
    """The broker as the order manager sees it: refuses every order while killed (see the module docstring).

    ``cash`` (optional) answers :meth:`cash` instead of the broker (an account read per call
    would cost a REST request per bar on Alpaca). A ``TradingHalted`` from a journaled broker
    (its kill file, or reconciliation halted trading) becomes a ``rejected`` status too.
    """

    def __init__(self, inner: Broker, control: LiveControl | None, cash: Callable[[], float] | None = None,
                 on_order: Callable[[Order], None] | None = None) -> None:
        self.inner, self.control = inner, control
        self._cash, self._on_order = cash, on_order
        self.refused = 0
        self._refused: dict[str, OrderStatus] = {}  # the loop may ask about an order it was refused (an exit)
        self._status = getattr(inner, "cached_status", inner.status)

    def _refusal(self, order: Order) -> OrderStatus | None:
        if self._on_order is not None:
            self._on_order(order)
        why = self.control.killed if self.control is not None else ""
        if not why:
            return None
        return self._refuse(order, why)

    def _refuse(self, order: Order, why: str) -> OrderStatus:
        self.refused += 1
        status = OrderStatus(order.client_order_id, "rejected", 0.0, None, REFUSED + why)
        if len(self._refused) > 10_000:
            self._refused.clear()
        self._refused[order.client_order_id] = status
        return status

    def submit(self, order: Order) -> OrderStatus:
        """Place one order (or refuse it)."""
        if self.control is not None:
            self.control.refresh()
        refused = self._refusal(order)
        if refused is not None:
            return refused
        try:
            return self.inner.submit(order)
        except TradingHalted as e:
            return self._refuse(order, str(e))

    def submit_many(self, orders: Sequence[Order]) -> list[OrderStatus]:
        """Place orders in turn (in one call when nothing is refused and the broker can)."""
        if self.control is not None:
            self.control.refresh()
        killed = self.control.killed if self.control is not None else ""
        if not killed and not _halt_reason(self.inner):
            many = getattr(self.inner, "submit_many", None)
            if many is not None:
                if self._on_order is not None:
                    for o in orders:
                        self._on_order(o)
                try:
                    out: list[OrderStatus] = many(orders)
                    return out
                except TradingHalted:
                    pass
        return [self.submit(o) for o in orders]

    def cancel(self, client_order_id: str) -> OrderStatus:
        """Cancel one order."""
        return self.inner.cancel(client_order_id)

    def cancel_many(self, client_order_ids: Iterable[str]) -> int:
        """Cancel many orders."""
        return cancel_many(self.inner, client_order_ids)

    def status(self, client_order_id: str) -> OrderStatus:
        """An order's status (the stream's last word when the broker keeps one)."""
        refused = self._refused.get(client_order_id)
        if refused is not None:
            return refused
        out: OrderStatus = self._status(client_order_id)
        return out

    def positions(self) -> dict[str, float]:
        """The broker's positions."""
        return self.inner.positions()

    def cash(self) -> float:
        """Cash (from the injected source when given)."""
        return self._cash() if self._cash is not None else self.inner.cash()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _halt_reason(broker: Broker) -> str:
    halt = getattr(broker, "halt_reason", None)
    return str(halt()) if halt is not None else ""
