"""Assemble and run the live workers: the same trading loop as the backtest, on a live feed.

:func:`build_trade_worker` wires one trade worker: broker by name (:mod:`tftrade.live.brokers`),
publishing of orders and fills, the risk gate, the session, the clock and the strategy;
the replay-parity check (:mod:`tftrade.live.parity`) and ``tftrade live`` both use it.
:func:`run_workers` runs workers as threads of one process until a stop event (SIGINT/SIGTERM)
or until the source ends and every worker has drained its topic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from tftrade.core.clock import Clock, SimulatedClock
from tftrade.core.errors import TftradeError
from tftrade.core.orders import Order
from tftrade.core.types import Timeframe
from tftrade.execution.manager import OrderManager
from tftrade.live.brokers import BrokerKit
from tftrade.live.bus_broker import PublishingBroker, PublishingFills
from tftrade.live.control import ControlledSession, GuardedBroker, LiveControl
from tftrade.live.forecasts import LiveForecasts
from tftrade.live.trade_worker import Emit, LiveRecorder, TradeCounters, TradeWorker
from tftrade.live.window import RollingMarket
from tftrade.risk.gate import RiskGate
from tftrade.strategy.contract import Strategy
from tftrade.strategy.forecasts import ForecastRows
from tftrade.stream.bus import Bus
from tftrade.trading.config import TradingConfig
from tftrade.trading.loop import OrderCheck, TradingLoop
from tftrade.trading.recorder import FanOutRecorder, Recorder
from tftrade.trading.session import Session

log = logging.getLogger(__name__)

StrategyFactory = Callable[[ForecastRows | None], Strategy]
"""Builds the strategy, given the forecasts it reads (``None`` for a strategy without forecasts)."""


class LiveConfig(BaseModel):
    """Settings of a live run (frozen, unknown keys rejected)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trading: TradingConfig = TradingConfig(rebalance_every=5)
    strategy_version: str = "live"
    window: int = Field(default=1024, ge=2, description="bars of history kept per ticker (≥ every look-back)")
    wait_predictions_s: float = Field(default=5.0, ge=0, description="longest wait for a bar's predictions")
    flatten_minutes: int | None = Field(default=None, ge=1, description="flatten this long before the close")
    keep_latencies: bool = Field(default=False, description="keep every latency (benchmarks)")


@dataclass
class TradeStack:
    """A trade worker and the parts a caller may want to look at."""

    worker: TradeWorker
    loop: TradingLoop
    kit: BrokerKit
    recorder: LiveRecorder
    forecasts: LiveForecasts | None
    control: LiveControl | None = None


def build_trade_worker(bus: Bus, tickers: tuple[str, ...], sectors: tuple[str, ...], timeframe: Timeframe,
                       make_strategy: StrategyFactory, kit: BrokerKit, clock: Clock, *, config: LiveConfig,
                       gate: RiskGate | None, session: Session | None = None, horizon: int | None = None,
                       emit: Emit | None = None, publish: bool = True, group: str = "trade",
                       consumer: str = "trade-1",
                       on_orders: Callable[[Sequence[Order]], None] | None = None,
                       series: dict[str, str] | None = None, recorders: Sequence[Recorder] = (),
                       control: LiveControl | None = None,
                       on_order: Callable[[Order], None] | None = None,
                       check: OrderCheck | None = None,
                       on_idle: Callable[[], object] | None = None) -> TradeStack:
    """Wire the trading loop to the bus (see the module docstring).

    ``horizon`` given: the strategy reads live predictions of that horizon. A
    :class:`~tftrade.core.clock.SimulatedClock` is moved to each bar's timestamp (a replay).
    ``on_orders`` also sees every batch of orders as it reaches the broker. ``series`` names the
    tickers carried as the benchmark and the volatility index (``{"benchmark": "^GSPC", "vix": "^VIX"}``).
    ``recorders`` also receive everything the loop reports (desk, audit; the control's breaker);
    ``control`` (pause, kill, breaker) guards the orders, closes the session while paused and
    holds its lock while the loop steps; ``on_order`` sees every order before the broker does.
    ``on_idle`` is the worker's idle work (:class:`~tftrade.live.trade_worker.TradeWorker`).
    """
    counters = TradeCounters()
    recorder = LiveRecorder(counters, emit, config.keep_latencies)

    def sent(orders: Sequence[Order]) -> None:
        recorder.orders_sent(orders)
        if on_orders is not None:
            on_orders(orders)

    inner = kit.broker
    if control is not None or kit.cash is not None or on_order is not None:
        inner = GuardedBroker(kit.broker, control, cash=kit.cash, on_order=on_order)
    broker = PublishingBroker(inner, bus if publish else None, on_orders=sent)
    fills = PublishingFills(kit.fills, bus) if publish else kit.fills
    manager = OrderManager(broker, strategy_version=config.strategy_version)
    forecasts = None if horizon is None else LiveForecasts(tickers, horizon)
    if control is not None:
        session = ControlledSession(session, control)
    fan: Recorder = FanOutRecorder(recorder, *recorders) if recorders else recorder
    loop = TradingLoop(tickers, make_strategy(forecasts), manager, fills, clock, config=config.trading, gate=gate,
                       recorder=fan, session=session, check=check)
    roles = series or {}
    window = RollingMarket(tickers, sectors, timeframe, capacity=config.window, benchmark="benchmark" in roles,
                           vix="vix" in roles)
    worker = TradeWorker(bus, loop, window, forecasts=forecasts,
                         replay_clock=clock if isinstance(clock, SimulatedClock) else None, group=group,
                         consumer=consumer, wait_predictions_s=config.wait_predictions_s, counters=counters,
                         recorder=recorder, series=roles, step_lock=control.lock if control is not None else None,
                         on_idle=on_idle)
    return TradeStack(worker, loop, kit, recorder, forecasts, control)


Work = Callable[[threading.Event, threading.Event | None], object]
"""A worker's run: ``(stop, end)``; returns when ``stop`` is set, or when ``end`` is set and its input is drained."""


Service = Callable[[threading.Event], object]
"""A worker that runs until its stop event (e.g. the ingest worker)."""


def run_workers(workers: Sequence[tuple[str, Work]], stop: threading.Event, *,
                source: Callable[[threading.Event], object] | None = None,
                services: Sequence[tuple[str, Service, Callable[[], bool]]] = (),
                join_s: float | None = None, on_busy: Callable[[str], object] | None = None) -> dict[str, object]:
    """Run ``workers`` and ``services`` as threads; ``source`` (if any) in its own thread sets ``end`` when done.

    With a source, once it has ended and every worker has drained its input and returned, each
    service is stopped as soon as its ``drained()`` check holds (or after 30 s). Returns each
    worker's result. A worker that raises stops all of them; the first error is re-raised after
    every thread has ended (nothing is acked that was not processed: each worker acks only
    after processing). The stopped services are waited for until they end, or at most ``join_s``
    seconds in all: ``on_busy`` is then told the name of each still running (a daemon thread, left behind).
    """
    svc_stop = threading.Event()
    svc_threads = []
    svc_errors: list[BaseException] = []
    for name, svc, _ in services:
        def run_service(svc: Service = svc, name: str = name) -> None:
            try:
                svc(svc_stop)
            except BaseException as e:  # reported to the caller once the others have stopped
                _log_failure("service", name, e)
                svc_errors.append(e)
                stop.set()
        th = threading.Thread(target=run_service, name=name, daemon=True)
        th.start()
        svc_threads.append(th)
    try:
        results = _run(workers, stop, source)
    finally:
        deadline = time.monotonic() + 30.0
        for _, _, drained in services:
            while not stop.is_set() and not drained() and time.monotonic() < deadline:
                time.sleep(0.02)
        svc_stop.set()
        until = None if join_s is None else time.monotonic() + join_s
        for th in svc_threads:
            th.join(None if until is None else max(0.0, until - time.monotonic()))
            if th.is_alive() and on_busy is not None:
                on_busy(th.name)
    if svc_errors:
        raise svc_errors[0]
    return results


def _log_failure(kind: str, name: str, e: BaseException) -> None:
    """A tftrade error (its message says it all, and the caller reports it) is not a traceback."""
    if isinstance(e, TftradeError):
        log.debug("%s %s stopped: %s", kind, name, e)
    else:
        log.exception("%s %s failed", kind, name)


def _run(workers: Sequence[tuple[str, Work]], stop: threading.Event,
         source: Callable[[threading.Event], object] | None) -> dict[str, object]:
    end = threading.Event() if source is not None else None
    results: dict[str, object] = {}
    errors: list[BaseException] = []

    def guard(name: str, fn: Callable[[], object]) -> None:
        try:
            results[name] = fn()
        except BaseException as e:  # reported to the caller once the others have stopped
            _log_failure("worker", name, e)
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=guard, args=(name, (lambda w=w: w(stop, end))), name=name, daemon=True)
               for name, w in workers]
    for th in threads:
        th.start()
    if source is not None:
        assert end is not None

        def produce() -> object:
            try:
                return source(stop)
            finally:
                end.set()
        src = threading.Thread(target=guard, args=("source", produce), name="source", daemon=True)
        src.start()
        threads.append(src)
    for th in threads:
        while th.is_alive():
            th.join(0.2)
            if stop.is_set() and end is not None:
                end.set()
    if errors:
        raise errors[0]
    return results
