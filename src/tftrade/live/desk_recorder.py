"""Publish the live desk through :class:`~tftrade.stream.desk.Desk`: the documents the API and dashboard serve.

:class:`DeskRecorder` is one of the loop's recorders (in the fan-out with the live status and
the audit chain). It keeps the latest state of the loop and publishes, at most once per
``throttle_s`` per kind (plus :meth:`flush` at the end of a run and :meth:`flush_due` from a
timer, so a quiet feed still shows its last state):

========== ==================================================================================
kind       data
========== ==================================================================================
pnl        ``equity, cash, drawdown, peak, pnl, initial_cash, history: [[ns, equity], ...]``
positions  ``positions: [{ticker, quantity, price, value, weight, sector}]`` (non-zero only)
portfolio  ``weights: {ticker: w}, sector_exposure: {sector: w}, gross, net, beta``
risk       ``var_95, cvar_95, limits: [{name, value, limit, headroom}], gate_events``
signals    ``signals: [{ticker, target_weight, signal, q10, q90, confidence, sentiment}], notes``
orders     ``orders: [{client_order_id, ticker, quantity, type, status, filled_quantity, ...}]``
status     ``state (running | paused | killed), reason, counters, broker, source, strategy``
feed       ``connected: {source: bool}, last_bar_ns, bar_ns, lag_s``
========== ==================================================================================

Weights are fractions of equity; ``history`` points are (bar timestamp ns, equity).
Significant events go to the desk's event list: ``order_rejected`` (the broker refused an
order; the guard's own refusals while killed are not events) and, through
:meth:`reconciliation_mismatch`, ``reconciliation_mismatch``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tftrade.core.orders import Order, OrderStatus, TradeRecord
from tftrade.core.types import Float64Array
from tftrade.execution.reconcile import ReconcileReport
from tftrade.live.control import REFUSED, LiveControl
from tftrade.live.forecasts import LiveForecasts
from tftrade.live.trade_worker import TradeCounters
from tftrade.risk.errors import RiskError
from tftrade.risk.gate import GateLimits
from tftrade.risk.var import portfolio_var
from tftrade.strategy.contract import Targets
from tftrade.stream.desk import Desk, DeskKind
from tftrade.trading.feed import BarEvent
from tftrade.trading.loop import TradingLoop

log = logging.getLogger(__name__)

_ALL: tuple[DeskKind, ...] = ("pnl", "positions", "portfolio", "risk", "signals", "orders", "status", "feed")


def _num(x: float) -> float | None:
    """JSON has no NaN: ``None`` for a missing number."""
    return float(x) if math.isfinite(x) else None


class DeskRecorder:
    """Keep the loop's latest state and publish it as desk documents (see the module docstring).

    Parameters
    ----------
    desk
        Where documents and events go (in-process cache, or Redis shared with ``tftrade serve``).
    tickers, sectors
        The universe, in the loop's order.
    initial_cash
        Starting cash (the P&L's reference).
    limits
        The gate's limits (headroom in ``risk``).
    about
        Fixed facts for ``status`` (broker, source, strategy, ...).
    counters
        The trade worker's counters (``status`` and ``feed``).
    control
        The live control (``status``'s state and reason).
    forecasts
        Live predictions (``signals``); ``None`` for a strategy without forecasts.
    throttle_s
        At most one publish per kind per this many seconds.
    history
        Equity points kept for the chart.
    monotonic, wall_ns
        Injected clocks (throttle; arrival ages).
    """

    def __init__(self, desk: Desk, tickers: tuple[str, ...], sectors: tuple[str, ...], *, initial_cash: float,
                 limits: GateLimits | None = None, about: dict[str, Any] | None = None,
                 counters: TradeCounters | None = None, control: LiveControl | None = None,
                 forecasts: LiveForecasts | None = None, throttle_s: float = 1.0, history: int = 2000,
                 risk_lookback: int = 60, monotonic: Callable[[], float] = time.monotonic,
                 wall_ns: Callable[[], int] = time.time_ns) -> None:
        self.desk, self.tickers, self.sectors = desk, tickers, sectors
        self.initial_cash = initial_cash
        self.limits = limits or GateLimits()
        self.about = dict(about or {})
        self.counters, self.control, self.forecasts = counters, control, forecasts
        self.throttle_s, self.risk_lookback = throttle_s, risk_lookback
        self._monotonic, self._wall_ns = monotonic, wall_ns
        self.loop: TradingLoop | None = None
        self.lock = threading.RLock()
        self.history: deque[list[float]] = deque(maxlen=history)
        self.equity = self.cash = self.beta = math.nan
        self.peak: float | None = None
        self.value = np.zeros(len(tickers))
        self.event: BarEvent | None = None
        self.targets: Targets | None = None
        self.decided_ns: int | None = None
        self.notes: deque[str] = deque(maxlen=20)
        self.gate_events: deque[dict[str, Any]] = deque(maxlen=50)
        self.order_book: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.max_orders = 200
        self._sent: dict[str, Order] = {}
        self._last: dict[str, float] = {}
        self._dirty: set[DeskKind] = set()
        self._when: dict[str, float] = {}
        self._bar_wall_ns: int | None = None
        self.published: dict[str, int] = dict.fromkeys(_ALL, 0)
        self.rejections = 0

    def attach(self, loop: TradingLoop) -> None:
        """Read share counts, last prices and betas from ``loop`` (the one position ledger)."""
        self.loop = loop

    # -- the Recorder protocol -------------------------------------------------------------
    def trades(self, records: Sequence[TradeRecord]) -> None:
        """Fills booked: the orders' filled quantities move."""
        with self.lock:
            for r in records:
                o = self.order_book.get(r.order_id)
                if o is None:
                    continue
                signed = r.exact_quantity if r.exact_quantity is not None else float(r.quantity)
                o["filled_quantity"] += signed if r.action in ("BUY", "COVER") else -signed
                o["average_price"] = r.price
                o["status"] = "filled" if abs(o["filled_quantity"]) >= abs(o["quantity"]) - 1e-9 else \
                    "partially_filled"
            if records:
                self._touch("orders")

    def decision(self, event: BarEvent, targets: Targets) -> None:
        """The strategy's targets (``signals``)."""
        with self.lock:
            self.targets, self.decided_ns = targets, event.timestamp_ns
            self._touch("signals")

    def orders(self, event: BarEvent, statuses: Sequence[OrderStatus]) -> None:
        """Orders placed (``orders``); a broker's rejection is an ``order_rejected`` event."""
        with self.lock:
            for s in statuses:
                o = self._sent.pop(s.client_order_id, None)
                self.order_book[s.client_order_id] = {
                    "client_order_id": s.client_order_id, "ticker": o.ticker if o else None,
                    "quantity": o.quantity if o else None, "type": o.type if o else None,
                    "limit_price": o.limit_price if o else None, "status": s.state,
                    "filled_quantity": s.filled_quantity, "average_price": s.average_price, "reason": s.reason,
                    "as_of_ns": event.timestamp_ns, "rationale": o.rationale if o else ""}
                self.order_book.move_to_end(s.client_order_id)
                if s.state == "rejected" and not s.reason.startswith(REFUSED):
                    self.rejections += 1
                    self.desk.event("order_rejected", f"order {s.client_order_id} rejected by the broker: {s.reason}",
                                    client_order_id=s.client_order_id, ticker=o.ticker if o else None,
                                    key=s.client_order_id)
            while len(self.order_book) > self.max_orders:
                self.order_book.popitem(last=False)
            self._touch("orders")

    def gate(self, timestamp_ns: int, ticker: str, action: str, requested: float, approved: float,
             reasons: str) -> None:
        """A gate change (``risk.gate_events``)."""
        with self.lock:
            self.gate_events.append({"as_of_ns": timestamp_ns, "ticker": ticker, "action": action,
                                     "requested": requested, "approved": approved, "reason": reasons})
            self._touch("risk")

    def note(self, text: str) -> None:
        """A portfolio-level remark (kept with ``signals``)."""
        with self.lock:
            self.notes.append(text)

    def mark(self, event: BarEvent, equity: float, cash: float, value: Float64Array, beta: float) -> None:
        """The book after a bar: every state document may change."""
        with self.lock:
            self.event, self.equity, self.cash, self.beta = event, equity, cash, beta
            self.value = np.array(value, dtype=np.float64)
            self._bar_wall_ns = self._wall_ns()
            if math.isfinite(equity):
                self.peak = equity if self.peak is None else max(self.peak, equity)
                if self.history and self.history[-1][0] == event.timestamp_ns:
                    self.history[-1] = [event.timestamp_ns, equity]  # the same bar marked again (end of a run)
                else:
                    self.history.append([event.timestamp_ns, equity])
            for kind in ("pnl", "positions", "portfolio", "risk", "status", "feed"):
                self._touch(kind)

    # -- beyond the protocol ---------------------------------------------------------------
    def order_seen(self, order: Order) -> None:
        """An order on its way to the broker (its ticker and size for ``orders``)."""
        with self.lock:
            self._sent[order.client_order_id] = order

    def reconciliation_mismatch(self, report: ReconcileReport) -> None:
        """Publish a reconciliation that is not in sync as a significant event."""
        diffs = [{"ticker": d.ticker, "ledger": str(d.ledger), "broker": str(d.broker)}
                 for d in report.position_differences]
        self.desk.event("reconciliation_mismatch",
                        f"reconciliation: {len(report.position_differences)} position difference(s), "
                        f"{len(report.order_differences)} order difference(s), "
                        f"{sum(o.is_open for o in report.external_orders)} open external order(s)"
                        + (f"; {report.halted}" if report.halted else ""),
                        positions=diffs, halted=report.halted, key="reconciliation")
        with self.lock:
            self._touch("status")

    def _touch(self, kind: DeskKind) -> None:
        self._dirty.add(kind)
        self._publish_due((kind,))

    def _publish_due(self, kinds: Sequence[DeskKind]) -> None:
        now = self._monotonic()
        for kind in kinds:
            if kind in self._dirty and now - self._when.get(kind, -math.inf) >= self.throttle_s:
                self._publish(kind, now)

    def _publish(self, kind: DeskKind, now: float) -> None:
        try:
            self.desk.publish(kind, self.document(kind))
        except Exception as e:  # a cache outage must not stop trading: the next publish retries
            log.warning("desk %s not published: %s", kind, e)
            return
        self._dirty.discard(kind)
        self._when[kind] = now
        self.published[kind] += 1

    def flush_due(self) -> None:
        """Publish what changed and whose throttle window has passed (call from a timer)."""
        with self.lock:
            self._publish_due(_ALL)

    def flush(self) -> None:
        """Publish every document now (end of a run)."""
        with self.lock:
            now = self._monotonic()
            for kind in _ALL:
                self._publish(kind, now)

    # -- the documents ---------------------------------------------------------------------
    def document(self, kind: DeskKind) -> dict[str, Any]:
        """The ``kind`` document from the current state."""
        with self.lock:
            return getattr(self, f"_{kind}")()  # type: ignore[no-any-return]

    def _weights(self) -> Float64Array:
        eq = self.equity
        if not (math.isfinite(eq) and eq > 0):
            return np.zeros(len(self.tickers))
        out: Float64Array = self.value / eq
        return out

    def _pnl(self) -> dict[str, Any]:
        eq, peak = self.equity, self.peak
        dd = 1.0 - eq / peak if peak and math.isfinite(eq) and peak > 0 else 0.0
        return {"equity": _num(eq), "cash": _num(self.cash), "drawdown": dd, "peak": peak,
                "pnl": _num(eq - self.initial_cash), "initial_cash": self.initial_cash,
                "history": list(self.history)}

    def _positions(self) -> dict[str, Any]:
        w = self._weights()
        qty = self.loop.positions if self.loop is not None else np.full(len(self.tickers), np.nan)
        last = self.loop.last if self.loop is not None else np.full(len(self.tickers), np.nan)
        rows = [{"ticker": t, "quantity": float(qty[i]), "price": _num(float(last[i])),
                 "value": float(self.value[i]), "weight": float(w[i]), "sector": self.sectors[i]}
                for i, t in enumerate(self.tickers) if qty[i] != 0]
        return {"positions": rows}

    def _sector_exposure(self, w: Float64Array) -> dict[str, float]:
        out: dict[str, float] = {}
        for s, x in zip(self.sectors, w.tolist(), strict=True):
            out[s] = out.get(s, 0.0) + x
        return {s: x for s, x in out.items() if x != 0}

    def _portfolio(self) -> dict[str, Any]:
        w = self._weights()
        return {"weights": {t: float(x) for t, x in zip(self.tickers, w.tolist(), strict=True) if x != 0},
                "sector_exposure": self._sector_exposure(w), "gross": float(np.abs(w).sum()),
                "net": float(w.sum()), "beta": _num(self.beta)}

    def _var(self, w: Float64Array) -> tuple[float | None, float | None]:
        ev = self.event
        if ev is None or not np.any(w):
            return (0.0, 0.0) if ev is not None else (None, None)
        t = ev.row
        close = ev.frame.close[max(0, t - self.risk_lookback):t + 1]
        if close.shape[0] < 3:
            return None, None
        with np.errstate(invalid="ignore", divide="ignore"):
            r = close[1:] / close[:-1] - 1.0
        try:
            res = portfolio_var(w, np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0), alpha=0.95)
        except RiskError:
            return None, None
        return _num(res.var), _num(res.cvar)

    def _risk(self) -> dict[str, Any]:
        w, lim = self._weights(), self.limits
        var, cvar = self._var(w)
        sectors = self._sector_exposure(w)
        pnl = self._pnl()

        def row(name: str, value: float | None, limit: float) -> dict[str, Any]:
            return {"name": name, "value": value, "limit": limit,
                    "headroom": None if value is None else limit - value}
        limits = [row("max_weight", float(np.abs(w).max()) if w.size else 0.0, lim.max_weight),
                  row("max_sector_weight", max((abs(x) for x in sectors.values()), default=0.0),
                      lim.max_sector_weight),
                  row("drawdown", pnl["drawdown"], lim.max_drawdown),
                  row("var_95", var, lim.max_var),
                  row("beta_max", _num(self.beta), lim.beta_max)]
        return {"var_95": var, "cvar_95": cvar, "limits": limits, "gate_events": list(self.gate_events)}

    def _signals(self) -> dict[str, Any]:
        tg = self.targets
        q = None
        if self.forecasts is not None and self.decided_ns is not None:
            q = self.forecasts.row(self.decided_ns, self.tickers)
        rows = []
        for i, t in enumerate(self.tickers):
            weight = float(tg.weights[i]) if tg is not None and len(tg.weights) == len(self.tickers) else math.nan
            rows.append({"ticker": t, "target_weight": _num(weight),
                         "signal": _num(float(q[1][i])) if q is not None else _num(weight),
                         "q10": _num(float(q[0][i])) if q is not None else None,
                         "q90": _num(float(q[2][i])) if q is not None else None,
                         "confidence": _num(float(q[3][i])) if q is not None else None, "sentiment": None,
                         "rationale": tg.rationale[i] if tg is not None and len(tg.rationale) == len(self.tickers)
                         else ""})
        return {"as_of_ns": self.decided_ns, "signals": rows, "notes": list(self.notes)}

    def _orders(self) -> dict[str, Any]:
        return {"orders": list(self.order_book.values())}

    def _status(self) -> dict[str, Any]:
        c, ctl = self.counters, self.control
        state = "killed" if ctl is not None and ctl.killed else "paused" if ctl is not None and ctl.paused \
            else "running"
        out: dict[str, Any] = {"state": state, "reason": (ctl.killed or ctl.control.reason) if ctl else "",
                               **self.about, "rejected_orders": self.rejections}
        if ctl is not None and ctl.last_kill is not None:
            out["last_kill"] = {"reason": ctl.last_kill.reason, "cancelled": ctl.last_kill.cancelled,
                                "flatten_orders": list(ctl.last_kill.flatten_orders)}
        if c is not None:
            out.update({"bars": c.bars, "steps": c.steps, "decisions": c.decisions, "orders": c.orders,
                        "fills": c.fills, "late_bars": c.late, "last_decision_ms": _num(c.last_decision_ms),
                        "last_order_ms": _num(c.last_order_ms)})
        return out

    def _feed(self) -> dict[str, Any]:
        c = self.counters
        lag = c.feed_lag_ms / 1e3 if c is not None and math.isfinite(c.feed_lag_ms) else None
        return {"connected": {str(self.about.get("source", "feed")): self.event is not None},
                "last_bar_ns": self._bar_wall_ns,
                "bar_ns": self.event.timestamp_ns if self.event is not None else None, "lag_s": lag}
