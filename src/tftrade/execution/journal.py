"""The order-intent journal: every order is written down before the broker hears of it.

``record_intent`` stores what we are about to send (client id, ticker, side, quantity, type,
limit, time in force, decision id) in ``order_intents`` and commits; only then is the order
submitted. Every later state change is appended to ``order_events``: ``submitted``,
``accepted``, ``partial_fill``, ``fill``, ``cancel_requested``, ``cancelled``, ``rejected``,
``unknown`` (we do not know whether the broker has it), ``resolved`` (an unknown outcome
looked up by client id), ``abandoned`` (never reached the broker and not re-sent),
``carried`` (a partial fill kept on purpose), ``refused`` (the kill switch was engaged),
``adopted_fill`` (a fill found by reconciliation) and ``external`` (adjustments).

Fills carry an ``execution_id`` that is unique per order, so a fill seen twice (on the stream
and again by a REST look-up, or after a restart) is stored once. The journal's fills are the
position ledger: :meth:`OrderJournal.ledger` replays them into a FIFO :class:`LotBook`.

Quantities and prices are stored as exact decimal text. Credentials never pass through here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from tftrade.core.orders import Fill, Order
from tftrade.execution.errors import DuplicateOrderIdError, ExecutionError
from tftrade.execution.lots import LotBook
from tftrade.store.schema_execution import order_events, order_intents

__all__ = ["EVENTS", "FILL_EVENTS", "FINAL_STATES", "Intent", "JournalEvent", "JournalOrder", "OrderJournal"]

FILL_EVENTS = frozenset({"partial_fill", "fill", "adopted_fill"})
EVENTS = frozenset({"submitted", "accepted", "cancel_requested", "cancelled", "rejected", "unknown", "resolved",
                    "abandoned", "carried", "refused", "external", "replaced"}) | FILL_EVENTS
FINAL_STATES = frozenset({"filled", "cancelled", "rejected", "abandoned", "refused"})
_ENDING_EVENTS = ("fill", "cancelled", "rejected", "abandoned", "refused", "replaced")  # "fill" = the last one
_FINAL_EVENT_STATE = {"cancelled": "cancelled", "rejected": "rejected", "abandoned": "abandoned",
                      "refused": "refused", "replaced": "cancelled"}


def dec(x: float | Decimal | str) -> Decimal:
    """A float by its shortest repr (``0.1`` is ``Decimal('0.1')``), a Decimal or decimal text as ``Decimal``."""
    return x if isinstance(x, Decimal) else Decimal(repr(x) if isinstance(x, float) else x)


def _text(x: float | Decimal | str | None) -> str | None:
    return None if x is None else format(dec(x).normalize(), "f")


@dataclass(frozen=True, slots=True)
class Intent:
    """What we decided to send, as written before sending."""

    client_order_id: str
    ticker: str
    quantity: Decimal  # signed
    order_type: str
    limit_price: Decimal | None
    time_in_force: str
    decision_id: str
    tag: str
    broker: str
    created_ns: int
    rationale: str = ""

    def to_order(self) -> Order:
        """The :class:`Order` this intent describes."""
        lp = None if self.limit_price is None else float(self.limit_price)
        return Order(self.client_order_id, self.ticker, float(self.quantity), self.order_type,  # type: ignore[arg-type]
                     lp, self.created_ns, self.rationale)


@dataclass(frozen=True, slots=True)
class JournalEvent:
    """One appended state change."""

    id: int
    client_order_id: str
    event: str
    ts_ns: int
    broker_order_id: str | None = None
    execution_id: str | None = None
    fill_quantity: Decimal | None = None
    fill_price: Decimal | None = None
    commission: Decimal | None = None
    filled_quantity: Decimal | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class JournalOrder:
    """An intent with the state its events lead to."""

    intent: Intent
    state: str  # intent | submitted | unknown | new | partially_filled | filled | cancelled | rejected | ...
    filled: Decimal
    notional: Decimal
    broker_order_id: str | None
    last_ns: int
    reason: str

    @property
    def is_open(self) -> bool:
        """True until the order reached a final state."""
        return self.state not in FINAL_STATES

    @property
    def average_price(self) -> Decimal | None:
        """Volume-weighted fill price (``None`` before the first fill)."""
        return abs(self.notional / self.filled) if self.filled else None


class OrderJournal:
    """The durable record of orders: intents and their events, on SQLite or PostgreSQL.

    Parameters
    ----------
    engine
        A migrated engine (``order_intents`` and ``order_events`` exist).
    clock_ns
        Injected wall clock (epoch ns) for event times.
    """

    def __init__(self, engine: Engine, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.engine = engine
        self._clock = clock_ns
        self._lock = threading.Lock()

    # -- writing -------------------------------------------------------------------------
    def record_intent(self, order: Order, *, decision_id: str | None = None, tag: str = "",
                      time_in_force: str = "day", broker: str = "") -> bool:
        """Write the intent of ``order`` (committed before returning); False if it was there already.

        Raises
        ------
        DuplicateOrderIdError
            If the client id is already journaled for a different order.
        """
        row = {
            "client_order_id": order.client_order_id, "ticker": order.ticker,
            "side": order.side, "quantity": _text(order.quantity), "order_type": order.type,
            "limit_price": _text(order.limit_price), "time_in_force": time_in_force,
            "decision_id": decision_id if decision_id is not None else str(order.created_ns),
            "tag": tag, "broker": broker, "created_ns": order.created_ns or self._clock(),
            "rationale": order.rationale,
        }
        known = self.intent(order.client_order_id)
        if known is not None:
            self._check_same(known, order)
            return False
        try:
            with self._lock, self.engine.begin() as conn:
                conn.execute(insert(order_intents), row)
        except IntegrityError:  # written meanwhile by another worker
            known = self.intent(order.client_order_id)
            if known is None:
                raise
            self._check_same(known, order)
            return False
        return True

    @staticmethod
    def _check_same(known: Intent, order: Order) -> None:
        lp = None if order.limit_price is None else dec(order.limit_price)
        if (known.ticker, known.quantity, known.order_type, known.limit_price) != (
                order.ticker, dec(order.quantity), order.type, lp):
            raise DuplicateOrderIdError(f"client order id {order.client_order_id!r} is journaled for "
                                        f"{known.ticker} {known.quantity} {known.order_type}, not {order}")

    def append(self, client_order_id: str, event: str, *, ts_ns: int | None = None,
               broker_order_id: str | None = None, execution_id: str | None = None,
               fill_quantity: float | Decimal | None = None, fill_price: float | Decimal | None = None,
               commission: float | Decimal | None = None, filled_quantity: float | Decimal | None = None,
               reason: str | None = None) -> bool:
        """Append one event; False (nothing written) when ``execution_id`` is already journaled for the order."""
        if event not in EVENTS:
            raise ExecutionError(f"journal event {event!r} is not one of {', '.join(sorted(EVENTS))}")
        if event in FILL_EVENTS and (execution_id is None or fill_quantity is None or fill_price is None):
            raise ExecutionError(f"journal fill of {client_order_id}: needs execution_id, quantity and price")
        row = {"client_order_id": client_order_id, "event": event, "ts_ns": self._clock() if ts_ns is None else ts_ns,
               "broker_order_id": broker_order_id, "execution_id": execution_id,
               "fill_quantity": _text(fill_quantity), "fill_price": _text(fill_price),
               "commission": _text(commission), "filled_quantity": _text(filled_quantity), "reason": reason}
        try:
            with self._lock, self.engine.begin() as conn:
                conn.execute(insert(order_events), row)
        except IntegrityError:
            if execution_id is None:
                raise
            return False
        return True

    def append_fill(self, fill: Fill, execution_id: str, *, event: str = "fill",
                    broker_order_id: str | None = None, filled_quantity: float | Decimal | None = None,
                    reason: str | None = None) -> bool:
        """Append a fill (deduplicated by ``execution_id``); False if it was journaled already."""
        return self.append(fill.client_order_id, event, ts_ns=fill.timestamp_ns, broker_order_id=broker_order_id,
                           execution_id=execution_id, fill_quantity=fill.quantity, fill_price=fill.price,
                           commission=fill.commission, filled_quantity=filled_quantity, reason=reason)

    # -- reading -------------------------------------------------------------------------
    def intent(self, client_order_id: str) -> Intent | None:
        """The intent under ``client_order_id`` (``None`` if never journaled)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(order_intents).where(
                order_intents.c.client_order_id == client_order_id)).mappings().first()
        return None if row is None else _intent(row)

    def intents(self) -> list[Intent]:
        """Every intent, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(order_intents).order_by(order_intents.c.created_ns,
                                                               order_intents.c.client_order_id)).mappings().all()
        return [_intent(r) for r in rows]

    def events(self, client_order_id: str | None = None) -> list[JournalEvent]:
        """Events in the order they were appended (all orders, or one)."""
        q = select(order_events).order_by(order_events.c.id)
        if client_order_id is not None:
            q = q.where(order_events.c.client_order_id == client_order_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [_event(r) for r in rows]

    def orders(self) -> list[JournalOrder]:
        """Every intent with its current state, oldest first."""
        by_id: dict[str, list[JournalEvent]] = {}
        for e in self.events():
            by_id.setdefault(e.client_order_id, []).append(e)
        return [_fold(i, by_id.get(i.client_order_id, [])) for i in self.intents()]

    def order(self, client_order_id: str) -> JournalOrder | None:
        """One intent with its state (``None`` if never journaled)."""
        intent = self.intent(client_order_id)
        return None if intent is None else _fold(intent, self.events(client_order_id))

    def open_orders(self) -> list[JournalOrder]:
        """Orders not yet in a final state (reads only the orders without a final event, not the whole journal)."""
        ended = select(order_events.c.client_order_id).where(order_events.c.event.in_(_ENDING_EVENTS))
        with self.engine.connect() as conn:
            rows = conn.execute(select(order_intents).where(order_intents.c.client_order_id.not_in(ended))
                                .order_by(order_intents.c.created_ns, order_intents.c.client_order_id)).mappings().all()
            intents = [_intent(r) for r in rows]
            by_id: dict[str, list[JournalEvent]] = {i.client_order_id: [] for i in intents}
            ids = list(by_id)
            for k in range(0, len(ids), 500):
                q = select(order_events).where(order_events.c.client_order_id.in_(ids[k:k + 500])) \
                    .order_by(order_events.c.id)
                for r in conn.execute(q).mappings():
                    by_id[r["client_order_id"]].append(_event(r))
        return [o for o in (_fold(i, by_id[i.client_order_id]) for i in intents) if o.is_open]

    def fills(self) -> list[Fill]:
        """Every journaled fill, in the order it was booked (adjustments included)."""
        tickers = {i.client_order_id: i.ticker for i in self.intents()}
        out = []
        for e in self.events():
            if e.event in FILL_EVENTS:
                assert e.fill_quantity is not None and e.fill_price is not None
                ticker = tickers.get(e.client_order_id)
                if ticker is None:
                    raise ExecutionError(f"journal has a fill of {e.client_order_id!r} but no intent for it")
                out.append(Fill(e.client_order_id, ticker, float(e.fill_quantity), float(e.fill_price),
                                float(e.commission or 0), e.ts_ns))
        return out

    def ledger(self) -> LotBook:
        """The FIFO lot book of every journaled fill (the position ledger)."""
        book = LotBook()
        for f in self.fills():
            book.apply(f)
        return book

    def positions(self) -> dict[str, Decimal]:
        """Signed shares per ticker from the journaled fills (non-zero only), exact."""
        tickers = {i.client_order_id: i.ticker for i in self.intents()}
        pos: dict[str, Decimal] = {}
        for e in self.events():
            if e.event in FILL_EVENTS and e.fill_quantity is not None:
                t = tickers[e.client_order_id]
                pos[t] = pos.get(t, Decimal(0)) + e.fill_quantity
        return {t: q for t, q in sorted(pos.items()) if q != 0}

    def booked(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Per client id: (filled quantity, filled notional) from the journaled fills."""
        out: dict[str, tuple[Decimal, Decimal]] = {}
        for e in self.events():
            if e.event in FILL_EVENTS and e.fill_quantity is not None and e.fill_price is not None:
                q, n = out.get(e.client_order_id, (Decimal(0), Decimal(0)))
                out[e.client_order_id] = (q + e.fill_quantity, n + e.fill_quantity * e.fill_price)
        return out

    def story(self, client_order_id: str) -> list[str]:
        """The event names of one order, intent first (what tests and ``tftrade orders`` show)."""
        return ["intent"] + [e.event for e in self.events(client_order_id)] if self.intent(client_order_id) else []


def _intent(r: Any) -> Intent:
    return Intent(r["client_order_id"], r["ticker"], Decimal(r["quantity"]), r["order_type"],
                  None if r["limit_price"] is None else Decimal(r["limit_price"]), r["time_in_force"],
                  r["decision_id"], r["tag"], r["broker"], int(r["created_ns"]), r["rationale"] or "")


def _opt(x: str | None) -> Decimal | None:
    return None if x is None else Decimal(x)


def _event(r: Any) -> JournalEvent:
    return JournalEvent(int(r["id"]), r["client_order_id"], r["event"], int(r["ts_ns"]), r["broker_order_id"],
                        r["execution_id"], _opt(r["fill_quantity"]), _opt(r["fill_price"]), _opt(r["commission"]),
                        _opt(r["filled_quantity"]), r["reason"])


def _fold(intent: Intent, events: Iterable[JournalEvent]) -> JournalOrder:
    state, filled, notional, boid, last, reason = "intent", Decimal(0), Decimal(0), None, intent.created_ns, ""
    for e in events:
        last = e.ts_ns
        boid = e.broker_order_id or boid
        if e.event in FILL_EVENTS:
            assert e.fill_quantity is not None and e.fill_price is not None
            filled += e.fill_quantity
            notional += e.fill_quantity * e.fill_price
            if state not in FINAL_STATES:
                state = "filled" if filled == intent.quantity else "partially_filled"
        elif e.event in _FINAL_EVENT_STATE:
            if state != "filled":
                state = _FINAL_EVENT_STATE[e.event]
            reason = e.reason or reason
        elif state in FINAL_STATES:
            continue
        elif e.event == "submitted" and state == "intent":
            state = "submitted"
        elif e.event == "unknown":
            state = "unknown"
            reason = e.reason or reason
        elif e.event in ("accepted", "resolved"):
            state = "partially_filled" if filled else "new"
        elif e.event == "carried":
            state, reason = "carried", e.reason or reason
    return JournalOrder(intent, state, filled, notional, boid, last, reason)
