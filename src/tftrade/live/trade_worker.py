"""The trade worker: closed cross-sections of ``market_data`` (+ ``predictions``) → the trading loop → orders.

It is the backtest's loop with a live feed: bars are assembled into cross-sections, appended to
a rolling window (:class:`~tftrade.live.window.RollingMarket`) and stepped through
:class:`~tftrade.trading.loop.TradingLoop`. On a decision bar of a strategy that reads
forecasts it first waits (up to ``wait_predictions_s``) until every ticker's prediction for
that bar has arrived. Bars and predictions are acked only after the bar was stepped. Time comes
from the injected clock: the system clock live; in a replay a simulated clock the worker
moves to each bar's timestamp, exactly as the backtest's feed does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from tftrade.core.clock import SimulatedClock
from tftrade.core.orders import Fill, Order, OrderStatus, TradeRecord
from tftrade.core.types import Float64Array
from tftrade.live.assembler import Assembler, CrossSection
from tftrade.live.forecasts import LiveForecasts
from tftrade.live.reader import ReaderConfig, TopicReader
from tftrade.live.window import RollingMarket
from tftrade.strategy.contract import Targets
from tftrade.stream.bus import Bus
from tftrade.stream.messages import PredictionMessage
from tftrade.trading.feed import BarEvent
from tftrade.trading.loop import TradingLoop

log = logging.getLogger(__name__)

IDLE_AFTER_S = 0.25
"""Quiet time after a step before the worker counts as idle (``on_idle``: the deferred full garbage collection)."""

Emit = Callable[[dict[str, object]], None]


@dataclass
class TradeCounters:
    """What the trade worker has done, and its latest latencies (ms, from a bar's arrival)."""

    bars: int = 0
    steps: int = 0
    decisions: int = 0
    orders: int = 0
    fills: int = 0
    late: int = 0
    prediction_waits_timed_out: int = 0
    equity: float = float("nan")
    last_decision_ms: float = float("nan")
    last_order_ms: float = float("nan")
    feed_lag_ms: float = float("nan")
    decision_latencies_ms: list[float] = field(default_factory=list)
    order_latencies_ms: list[float] = field(default_factory=list)


def _signed(r: TradeRecord) -> float:
    """A trade's shares signed as an order's: positive bought (BUY, COVER), negative sold (SELL, SHORT)."""
    q = r.exact_quantity if r.exact_quantity is not None else float(r.quantity)
    return q if r.action in ("BUY", "COVER") else -q


class LiveRecorder:
    """The loop's recorder live: counts, latencies, and one event per decision, order batch and fill batch."""

    def __init__(self, counters: TradeCounters, emit: Emit | None, keep_latencies: bool) -> None:
        self.c, self._emit, self._keep = counters, emit, keep_latencies
        self.arrival_ns = 0
        self.decided: list[tuple[int, Targets]] = []
        self._sent: dict[str, Order] = {}  # orders that reached the broker since the last order batch

    def _event(self, payload: dict[str, object]) -> None:
        if self._emit is not None:
            self._emit(payload)

    def trades(self, records: Sequence[TradeRecord]) -> None:
        """Fills booked."""
        self.c.fills += len(records)
        if records:
            self._event({"event": "fills", "count": len(records), "fills": [
                {"order_id": r.order_id, "ticker": r.ticker, "action": r.action, "quantity": _signed(r),
                 "price": r.price, "commission": r.commission, "pnl": r.pnl, "rationale": r.rationale}
                for r in records]})

    def decision(self, event: BarEvent, targets: Targets) -> None:
        """A decision: latency from the bar's arrival."""
        self.c.decisions += 1
        self.decided.append((event.timestamp_ns, targets))
        if self.arrival_ns:
            ms = (time.time_ns() - self.arrival_ns) / 1e6
            self.c.last_decision_ms = ms
            if self._keep:
                self.c.decision_latencies_ms.append(ms)
        self._event({"event": "decision", "as_of_ns": event.timestamp_ns, "notes": list(targets.notes)})

    def orders(self, event: BarEvent, statuses: Sequence[OrderStatus]) -> None:
        """Orders placed: state and reason of each, with ticker, quantity and rationale when it reached the broker."""
        self.c.orders += len(statuses)
        detail = []
        for s in statuses:
            o = self._sent.get(s.client_order_id)
            detail.append({"client_order_id": s.client_order_id, "ticker": None if o is None else o.ticker,
                           "quantity": None if o is None else o.quantity, "state": s.state, "reason": s.reason,
                           "rationale": "" if o is None else o.rationale})
        self._sent.clear()
        self._event({"event": "orders", "as_of_ns": event.timestamp_ns, "count": len(statuses), "orders": detail})

    def orders_sent(self, orders: Sequence[Order]) -> None:
        """Orders reached the broker: latency from the bar's arrival."""
        self._sent.update((o.client_order_id, o) for o in orders)
        if self.arrival_ns:
            ms = (time.time_ns() - self.arrival_ns) / 1e6
            self.c.last_order_ms = ms
            if self._keep:
                self.c.order_latencies_ms.append(ms)

    def gate(self, timestamp_ns: int, ticker: str, action: str, requested: float, approved: float,
             reasons: str) -> None:
        """A gate change."""
        self._event({"event": "gate", "as_of_ns": timestamp_ns, "ticker": ticker, "action": action,
                     "requested": requested, "approved": approved, "reasons": reasons})

    def note(self, text: str) -> None:
        """A note."""
        self._event({"event": "note", "text": text})

    def mark(self, event: BarEvent, equity: float, cash: float, value: Float64Array, beta: float) -> None:
        """Equity after the bar."""
        self.c.equity = equity


class TradeWorker:
    """Step the trading loop on bars from the bus (see the module docstring).

    Parameters
    ----------
    bus
        The bus to read ``market_data`` and ``predictions`` from.
    loop
        The trading loop (its broker, clock, gate, session and strategy are chosen by the caller).
    window
        The rolling market the loop's views read; at least as long as every look-back.
    forecasts
        Live predictions the strategy reads; ``None`` for a strategy without forecasts.
    replay_clock
        A simulated clock to move to each bar's timestamp (replays); ``None`` live.
    series
        Tickers carried as the window's ``benchmark`` and ``vix`` series (role → ticker).
    step_lock
        Held while the loop steps (the live control's kill path never interleaves with a step).
    on_idle
        Called while the bus stays quiet :data:`IDLE_AFTER_S` after a step (``tftrade live``/``worker``:
        :meth:`~tftrade.core.gc_tuning.IdleCollector.collect_when_idle`, the full collection held back once
        loaded); ``None``: nothing.
    """

    def __init__(self, bus: Bus, loop: TradingLoop, window: RollingMarket, *, forecasts: LiveForecasts | None = None,
                 replay_clock: SimulatedClock | None = None, group: str = "trade", consumer: str = "trade-1",
                 wait_predictions_s: float = 5.0, counters: TradeCounters | None = None,
                 recorder: LiveRecorder | None = None, series: dict[str, str] | None = None,
                 step_lock: AbstractContextManager[Any] | None = None,
                 on_idle: Callable[[], object] | None = None) -> None:
        self.bus, self.loop, self.window, self.forecasts = bus, loop, window, forecasts
        self.replay_clock = replay_clock
        self.bars = TopicReader(bus, ReaderConfig("market_data", group, consumer))
        self.predictions = TopicReader(bus, ReaderConfig("predictions", group, consumer))
        self.assembler = Assembler(window.tickers, series)
        self.counters = counters or TradeCounters()
        self.recorder = recorder
        self.wait_predictions_s = wait_predictions_s
        self._prediction_ids: dict[int, list[str]] = {}
        self._step = 0
        self.step_lock = step_lock
        self.on_idle = on_idle
        self._stepped_at = 0.0  # time.monotonic() after the last step

    def run(self, stop: threading.Event, end: threading.Event | None = None) -> TradeCounters:
        """Work until ``stop``; or, once ``end`` is set and the topic is drained, flush and return."""
        for cs in self.sections(stop, end):
            self.process(cs, stop)
        return self.counters

    def sections(self, stop: threading.Event, end: threading.Event | None) -> Iterator[CrossSection]:
        """Closed cross-sections as they come (the live feed)."""
        while not stop.is_set():
            batch = self.bars.read()
            if not batch:
                if end is not None and end.is_set():
                    yield from self.assembler.flush()
                    return
                if self.on_idle is not None and time.monotonic() - self._stepped_at >= IDLE_AFTER_S:
                    self.on_idle()  # e.g. the full collection held back once loaded (freeze_gc), if due
                continue
            n, sections = self.assembler.add_read(batch, self.bars.ack, time.time_ns())
            self.counters.bars += n
            for cs in sections:
                if stop.is_set():  # the rest stays pending (unacked): a restart gets it back
                    return
                yield cs
            if self.assembler.late_ids:
                self.counters.late = self.assembler.late
                self.bars.ack(self.assembler.late_ids)
                self.assembler.late_ids.clear()

    def process(self, cs: CrossSection, stop: threading.Event | None = None) -> None:
        """Step the loop on one closed cross-section, then ack its bars (and the predictions it used)."""
        row = self.window.append(cs.timestamp_ns, cs.open, cs.high, cs.low, cs.close, cs.volume, cs.series)
        if self.replay_clock is not None:
            self.replay_clock.advance_to(cs.timestamp_ns)
        event = BarEvent(self._step, row, self.window)
        if self.forecasts is not None and self.loop.config.is_decision_step(self._step):
            self._await_predictions(cs.timestamp_ns, stop)
        if self.recorder is not None:
            self.recorder.arrival_ns = cs.received_ns
        if cs.received_ns:
            self.counters.feed_lag_ms = (time.time_ns() - cs.received_ns) / 1e6
        if self.step_lock is not None:
            with self.step_lock:
                self.counters.equity = self.loop.step(event)
        else:
            self.counters.equity = self.loop.step(event)
        self._step += 1
        self._stepped_at = time.monotonic()
        self.counters.steps = self._step
        if self.forecasts is not None:
            self.forecasts.passed(cs.timestamp_ns)
        self.bars.ack(cs.ids)
        for ts in [t for t in self._prediction_ids if t <= cs.timestamp_ns]:
            self.predictions.ack(self._prediction_ids.pop(ts))

    def _await_predictions(self, ts: int, stop: threading.Event | None) -> None:
        assert self.forecasts is not None
        deadline = time.monotonic() + self.wait_predictions_s
        while not self.forecasts.complete(ts):
            if time.monotonic() > deadline or (stop is not None and stop.is_set()):
                self.counters.prediction_waits_timed_out += 1
                log.warning("predictions for the bar at %d incomplete after %.1fs: deciding with what arrived",
                            ts, self.wait_predictions_s)
                return
            for d in self.predictions.read(block_ms=20):
                if isinstance(d.message, PredictionMessage):
                    self.forecasts.add(d.message)
                    self._prediction_ids.setdefault(d.message.as_of_ns, []).append(d.id)
                else:
                    self.predictions.ack([d.id])


def fills_of(broker: object) -> list[Fill]:
    """The fills a paper broker has made (empty for a broker that does not keep them)."""
    got = getattr(broker, "fills", None)
    return list(got) if isinstance(got, list) else []
