"""A broker that journals: every order written down before it is sent, every change after it.

:class:`JournaledBroker` wraps any broker (paper or Alpaca) and is itself a
:class:`~tftrade.execution.broker.Broker`, so the :class:`~tftrade.execution.manager.OrderManager`
and the trading loop use it unchanged. For each submit:

1. the intent is committed to ``order_intents`` (:class:`~tftrade.execution.journal.OrderJournal`);
2. ``submitted`` is appended and the broker is called;
3. the answer is appended (``accepted``, ``rejected``, ...) — or ``unknown`` when the broker
   could not say, in which case the *broker* layer has already looked the order up by client
   id, and reconciliation resolves whatever is still unknown; nothing is re-sent blindly.

Fills come from :meth:`drain_fills` (and :meth:`on_bar` for the paper broker); each is
journaled once (its execution id is unique per order) before it is handed to the caller and
to every listener added with :meth:`on_fills` (so a fill drained by reconciliation still
reaches the trading loop's ledger).
While the kill switch is engaged or reconciliation halted trading, :meth:`submit` refuses
with :class:`~tftrade.execution.errors.TradingHalted` (and journals the refusal).

``crash_hook(point)`` is called at ``intent_written``, ``broker_answered``, ``answer_journaled``,
``fill_received`` and ``fill_journaled``; the crash tests kill the process there.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

from tftrade.core.orders import Fill, Order, OrderStatus
from tftrade.execution.broker import Broker, BrokerOrder, BrokerPosition, Execution
from tftrade.execution.errors import BrokerUnavailable, TradingHalted, UnknownOrderError
from tftrade.execution.journal import FINAL_STATES, OrderJournal
from tftrade.execution.killswitch import KillSwitch

__all__ = ["JournaledBroker"]

log = logging.getLogger(__name__)

_ANSWER_EVENT = {"new": "accepted", "partially_filled": "accepted", "filled": "accepted",
                 "cancelled": "cancelled", "rejected": "rejected"}


class JournaledBroker:
    """Any broker, with the order-intent journal in front of it.

    Parameters
    ----------
    inner
        The broker that places orders (``PaperBroker``, ``AlpacaBroker``, ...).
    journal
        Where intents and events are written.
    name
        Broker name written with each intent (``paper`` / ``alpaca``).
    kill_switch
        Consulted before every submit.
    time_in_force
        Written with each intent and passed to brokers that take it.
    crash_hook
        Called with a point name at each step (tests only).
    """

    def __init__(self, inner: Broker, journal: OrderJournal, *, name: str = "", kill_switch: KillSwitch | None = None,
                 time_in_force: str = "day", crash_hook: Callable[[str], None] | None = None) -> None:
        self.inner = inner
        self.journal = journal
        self.name = name or getattr(inner, "name", type(inner).__name__.lower())
        self.kill_switch = kill_switch if kill_switch is not None else KillSwitch()
        self.time_in_force = time_in_force
        self.halted = ""  # set by reconciliation under the "halt" policy
        self._hook = crash_hook or (lambda _point: None)
        self._takes_tif = "time_in_force" in inspect.signature(inner.submit).parameters
        self._answered: dict[str, str] = {}  # cid -> last answer event journaled
        self._open: set[str] = set()
        self._listeners: list[Callable[[list[Fill]], None]] = []
        for o in journal.open_orders():
            self._open.add(o.intent.client_order_id)
        self.seed()

    def seed(self) -> None:
        """Tell the inner broker which fills the journal holds (after a restart: only new ones come back)."""
        seed = getattr(self.inner, "seed_booked", None)
        if seed is not None:
            seed(self.journal.booked())

    # -- the Broker protocol -------------------------------------------------------------
    def halt_reason(self) -> str:
        """Why new orders are refused now ('' when trading is allowed)."""
        return self.kill_switch.reason() or self.halted

    def submit(self, order: Order, *, decision_id: str | None = None, tag: str = "", time_in_force: str | None = None,
               override_halt: bool = False) -> OrderStatus:
        """Journal the intent, then submit; see the module docstring.

        Raises
        ------
        TradingHalted
            The kill switch is engaged or trading is halted (the refusal is journaled).
        BrokerUnavailable
            The outcome is unknown (journaled as ``unknown``; reconciliation resolves it).
        """
        cid = order.client_order_id
        tif = time_in_force or self.time_in_force
        why = "" if override_halt else self.halt_reason()
        if why:
            if self.journal.record_intent(order, decision_id=decision_id, tag=tag, time_in_force=tif,
                                          broker=self.name):
                self.journal.append(cid, "refused", reason=why)
            raise TradingHalted(f"order {cid} ({order.ticker} {order.quantity:g}) refused: {why}")
        self.journal.record_intent(order, decision_id=decision_id, tag=tag, time_in_force=tif, broker=self.name)
        self._open.add(cid)
        self._hook("intent_written")
        self.journal.append(cid, "submitted")
        try:
            status = self.inner.submit(order, time_in_force=tif) if self._takes_tif else self.inner.submit(order)  # type: ignore[call-arg]
        except BrokerUnavailable as e:
            self.journal.append(cid, "unknown", reason=str(e))
            raise
        self._hook("broker_answered")
        self._journal_answer(status)
        self._hook("answer_journaled")
        return status

    def submit_many(self, orders: Sequence[Order]) -> list[OrderStatus]:
        """:meth:`submit` each in turn."""
        return [self.submit(o) for o in orders]

    def cancel(self, client_order_id: str) -> OrderStatus:
        """Journal the request, cancel, journal the answer."""
        self.journal.append(client_order_id, "cancel_requested")
        status = self.inner.cancel(client_order_id)
        self._journal_answer(status)
        return status

    def status(self, client_order_id: str) -> OrderStatus:
        """The broker's status of an order."""
        return self.inner.status(client_order_id)

    def positions(self) -> dict[str, float]:
        """The broker's positions (the ledger's are ``journal.positions()``)."""
        return self.inner.positions()

    def cash(self) -> float:
        """The broker's cash."""
        return self.inner.cash()

    # -- fills and states ----------------------------------------------------------------
    def on_fills(self, listener: Callable[[list[Fill]], None]) -> None:
        """Call ``listener`` with the fills of every :meth:`drain_fills` that journaled some, whoever drained."""
        self._listeners.append(listener)

    def drain_fills(self, event: str | None = None) -> list[Fill]:
        """Journal and return the fills the broker reported since the last call (each once)."""
        out = []
        for x in self._drain():
            if x.fill.client_order_id not in self._open and self.journal.intent(x.fill.client_order_id) is None:
                log.warning("fill of %s: not our order (external); left to reconciliation", x.fill.client_order_id)
                continue
            self._hook("fill_received")
            name = event or ("fill" if x.complete else "partial_fill")
            if self.journal.append_fill(x.fill, x.execution_id, event=name, broker_order_id=x.broker_order_id,
                                        filled_quantity=x.cumulative):
                out.append(x.fill)
            self._hook("fill_journaled")
            if x.complete:
                self._open.discard(x.fill.client_order_id)
        self.sync_states()
        if out:
            for listener in self._listeners:
                listener(out)
        return out

    def _drain(self) -> list[Execution]:
        drain = getattr(self.inner, "drain_executions", None)
        return list(drain()) if drain is not None else []

    def on_bar(self, *args: Any, **kwargs: Any) -> list[Fill]:
        """Paper broker: fill against one bar, then journal and return the fills."""
        self.inner.on_bar(*args, **kwargs)  # type: ignore[attr-defined]
        return self.drain_fills()

    def sync_states(self) -> None:
        """Journal cancels and rejects of open orders that the broker reported (no request for Alpaca)."""
        look = getattr(self.inner, "cached_status", self.inner.status)
        for cid in list(self._open):
            try:
                status = look(cid)
            except (UnknownOrderError, BrokerUnavailable):
                continue
            if status.state in ("cancelled", "rejected"):
                self._journal_answer(status)

    def _journal_answer(self, status: OrderStatus) -> None:
        cid = status.client_order_id
        event = _ANSWER_EVENT[status.state]
        if event == "accepted" and self._answered.get(cid) is not None:
            return
        if event != "accepted" and self._answered.get(cid) == event:
            return
        if event != "accepted":
            order = self.journal.order(cid)
            if order is not None and order.state in FINAL_STATES:
                self._answered[cid] = event
                self._open.discard(cid)
                return
        self.journal.append(cid, event, reason=status.reason or None)
        self._answered[cid] = event
        if event != "accepted":
            self._open.discard(cid)

    # -- pass-throughs -------------------------------------------------------------------
    def orders(self, *, open_only: bool = False, since_ns: int | None = None) -> list[BrokerOrder]:
        """The broker's orders."""
        return self.inner.orders(open_only=open_only, since_ns=since_ns)  # type: ignore[attr-defined, no-any-return]

    def position_details(self) -> dict[str, BrokerPosition]:
        """The broker's positions with prices."""
        return self.inner.position_details()  # type: ignore[attr-defined, no-any-return]

    def cancel_open(self) -> list[str]:
        """Cancel every order the journal has open; return their client ids."""
        done = []
        for o in self.journal.open_orders():
            cid = o.intent.client_order_id
            try:
                self.cancel(cid)
            except UnknownOrderError:
                self.journal.append(cid, "abandoned", reason="not at the broker when cancelling")
            done.append(cid)
        return done

    def close(self) -> None:
        """Close the inner broker (stream threads, sessions)."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
