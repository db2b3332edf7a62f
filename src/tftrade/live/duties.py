"""A real broker's per-bar duties, as the trading loop's fill source (docs/execution.md, "The live loop per bar").

At the start of every step :meth:`BrokerDuties.fills`:

1. drains the fills the broker reported since the last bar (Alpaca's trade-updates stream, or
   a journaled paper broker's matching against the bar), each journaled once;
2. reconciles on its timer (:class:`~tftrade.execution.reconcile.Reconciler`; a report not in
   sync calls ``on_mismatch``, which publishes ``reconciliation_mismatch``);
3. sweeps order care (stale limits cancel/replaced at the last close, old partial fills
   resolved).

Every fill the journaled broker hands out — to these duties or to a reconciliation's own
drains (fills it adopts, or that arrived just before it ran) — reaches them through the broker's
fill listener (:meth:`~tftrade.execution.journaled.JournaledBroker.on_fills`) and is handed to the
loop once, so nothing the journal books is missed by the loop's ledger.

It also keeps the account's cash without a request per bar: read from the broker on start
and at each reconciliation, moved by every fill in between (``-quantity × price - commission``).
:meth:`settle` books what is still in flight when a run stops; :func:`seed_loop` gives a
restarted loop the journal's positions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal

import numpy as np

from tftrade.core.clock import Clock
from tftrade.core.orders import Fill
from tftrade.execution.care import OrderCare
from tftrade.execution.journaled import JournaledBroker
from tftrade.execution.lots import LotBook
from tftrade.execution.reconcile import Reconciler, ReconcileReport
from tftrade.trading.feed import BarEvent
from tftrade.trading.loop import TradingLoop

log = logging.getLogger(__name__)


class BrokerDuties:
    """Fills, reconciliation and order care of a journaled broker, once a bar (see the module docstring).

    Parameters
    ----------
    broker
        The journaled broker (``execution.factory.make_broker``).
    reconciler
        Runs on start (:meth:`start`) and then on its interval.
    care
        Stale limits and partial fills; ``None`` skips the sweep.
    clock
        The loop's clock (order care ages orders by it).
    on_mismatch
        Called with every reconciliation report that is not in sync.
    """

    def __init__(self, broker: JournaledBroker, reconciler: Reconciler, care: OrderCare | None, clock: Clock, *,
                 on_mismatch: Callable[[ReconcileReport], None] | None = None) -> None:
        self.broker, self.reconciler, self.care, self.clock = broker, reconciler, care, clock
        self.on_mismatch = on_mismatch
        self._cash: float | None = None
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self.fills_seen = 0
        self.reports: list[ReconcileReport] = []
        self._captured: list[Fill] = []
        self.universe: frozenset[str] | None = None
        """Tickers the loop trades; fills of others stay in the journal only (reconciliation's business)."""
        broker.on_fills(self._capture)

    def _capture(self, fills: list[Fill]) -> None:
        with self._lock:
            self._captured.extend(fills)

    def start(self) -> ReconcileReport:
        """Reconcile once (adopt fills made while down, resolve unknown outcomes) and read the cash.

        The fills this adopts are in the journal's ledger, which :func:`seed_loop` hands to the loop.
        """
        report = self._reconcile(self.reconciler.run())
        with self._lock:
            self._captured.clear()
        self._cash = self.broker.cash()
        return report

    def _reconcile(self, report: ReconcileReport) -> ReconcileReport:
        self.reports.append(report)
        if not report.in_sync and self.on_mismatch is not None:
            self.on_mismatch(report)
        return report

    def cash(self) -> float:
        """The account's cash: read at start and at each reconciliation, moved by fills in between."""
        with self._lock:
            if self._cash is None:
                self._cash = self.broker.cash()
            return self._cash

    def _drain(self, event: BarEvent | None) -> list[Fill]:
        if event is not None and getattr(self.broker.inner, "on_bar", None) is not None:
            f, t = event.frame, event.row
            self.broker.on_bar(event.timestamp_ns, f.tickers, f.open[t], f.high[t], f.low[t], f.close[t],
                               f.volume[t])
        else:
            self.broker.drain_fills()
        return self._take()

    def _take(self) -> list[Fill]:
        """Every fill captured since the last call (cash moved by them)."""
        with self._lock:
            got, self._captured = self._captured, []
            if got and self._cash is not None:
                self._cash -= sum(x.quantity * x.price + x.commission for x in got)
        self.fills_seen += len(got)
        if self.universe is not None and any(x.ticker not in self.universe for x in got):
            log.warning("fills outside the universe kept in the journal only: %s",
                        sorted({x.ticker for x in got if x.ticker not in self.universe}))
            got = [x for x in got if x.ticker in self.universe]
        return got

    def fills(self, event: BarEvent) -> list[Fill]:
        """The per-bar duties; returns the fills to book."""
        got = self._drain(event)
        t = event.row
        close = event.frame.close[t]
        for ticker, px in zip(event.frame.tickers, close.tolist(), strict=True):
            if np.isfinite(px):
                self._last[ticker] = px
        report = self.reconciler.maybe_run()
        if report is not None:
            self._reconcile(report)
            got += self._take()  # what the reconciliation drained or adopted
            with self._lock:
                self._cash = self.broker.cash()
        if self.care is not None:
            self.care.sweep(self.clock.now_ns(), reprice=self._last.get)
        return got

    def settle(self, timeout_s: float = 5.0, poll_s: float = 0.02) -> list[Fill]:
        """Drain fills until the journal has no open order left (or ``timeout_s``); return them."""
        out: list[Fill] = []
        deadline = time.monotonic() + timeout_s
        while True:
            out += self._drain(None)
            if not self.broker.journal.open_orders() or time.monotonic() > deadline:
                break
            time.sleep(poll_s)
        if out:
            with self._lock:
                self._cash = None
        return out


def seed_loop(loop: TradingLoop, ledger: LotBook) -> dict[str, float]:
    """Start ``loop`` from the journal's ledger (a restart): its lots, share vector and entry prices.

    Returns the positions of tickers outside the loop's universe (left to the operator: the
    loop never trades them, reconciliation reports them).
    """
    loop.manager.lots = ledger
    outside: dict[str, float] = {}
    index = {t: i for i, t in enumerate(loop.tickers)}
    for ticker, qty in ledger.positions().items():
        i = index.get(ticker)
        if i is None:
            outside[ticker] = qty
            continue
        lots = ledger.lots(ticker)
        shares = sum((lot.quantity for lot in lots), Decimal(0))
        loop.positions[i] = qty
        loop.entry[i] = float(sum((lot.cost for lot in lots), Decimal(0)) / shares) if shares else np.nan
    if outside:
        log.warning("the journal holds positions outside the universe (not traded): %s", outside)
    return outside
