"""A real broker's per-bar duties, as the trading loop's fill source (docs/execution.md, "The live loop per bar").

At the start of every step :meth:`BrokerDuties.fills`:

1. drains the fills the broker reported since the last bar (Alpaca's trade-updates stream, or
   a journaled paper broker's matching against the bar), each journaled once;
2. reconciles on its timer (:class:`~tftrade.execution.reconcile.Reconciler`; a report not in
   sync calls ``on_mismatch``, which publishes ``reconciliation_mismatch``);
3. sweeps order care (stale limits cancel/replaced at the last close, old partial fills
   resolved).

It also keeps the account's cash without a request per bar: read from the broker on start
and at each reconciliation, moved by every fill in between (``-quantity × price - commission``).
:meth:`settle` books what is still in flight when a run stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from tftrade.core.clock import Clock
from tftrade.core.orders import Fill
from tftrade.execution.care import OrderCare
from tftrade.execution.journaled import JournaledBroker
from tftrade.execution.reconcile import Reconciler, ReconcileReport
from tftrade.trading.feed import BarEvent

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

    def start(self) -> ReconcileReport:
        """Reconcile once (adopt fills made while down, resolve unknown outcomes) and read the cash."""
        report = self._reconcile(self.reconciler.run())
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
            got = self.broker.on_bar(event.timestamp_ns, f.tickers, f.open[t], f.high[t], f.low[t], f.close[t],
                                     f.volume[t])
        else:
            got = self.broker.drain_fills()
        if got:
            with self._lock:
                if self._cash is not None:
                    self._cash -= sum(x.quantity * x.price + x.commission for x in got)
            self.fills_seen += len(got)
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
            got += report.adopted_fills  # fills the broker made that the stream never told us of
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
