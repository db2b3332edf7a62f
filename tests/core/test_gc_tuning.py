"""The idle collector: an object per process that defers full collections, no schedule kept at module level."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable

import numpy as np

from tftrade.backtest import MarketData
from tftrade.core.clock import SimulatedClock
from tftrade.core.gc_tuning import (
    DEFERRED,
    IdleCollector,
    defer_full_collections,
    freeze_startup_objects,
    restored_gc,
)
from tftrade.live.brokers import make_broker
from tftrade.live.predict_worker import PredictWorker
from tftrade.live.predictor import Quantiles
from tftrade.live.replay import replay_bars
from tftrade.live.runner import LiveConfig, build_trade_worker
from tftrade.strategy import AccountState, MarketView, Targets
from tftrade.strategy.view import MarketFrame
from tftrade.stream.memory import InMemoryBus
from tftrade.stream.messages import BarMessage
from tftrade.trading import TradingConfig

MIN = 60_000_000_000


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _collector(clock: _Clock, every_s: float = 30.0) -> tuple[IdleCollector, list[float]]:
    ran: list[float] = []
    return IdleCollector(every_s, clock=clock, collect=lambda: ran.append(clock.now)), ran


class _Node:
    def __init__(self) -> None:
        self.me = self


def _cycle_frozen(**how: bool) -> tuple[bool, int]:
    """Whether a cycle that is garbage when ``freeze_startup_objects(**how)`` runs outlives it; the last threshold."""
    enabled = gc.isenabled()
    gc.disable()  # no automatic collection between the cycle's last reference and the freeze
    try:
        with restored_gc():
            node = _Node()
            ref = weakref.ref(node)
            del node
            freeze_startup_objects(**how)
            alive, third = ref() is not None, gc.get_threshold()[2]
        return alive, third
    finally:
        if enabled:
            gc.enable()


def test_a_serving_process_freezes_without_collecting_first_or_deferring() -> None:
    before = gc.get_threshold()[2]
    assert _cycle_frozen(collect_first=False, defer_full=False) == (True, before)
    assert _cycle_frozen() == (False, DEFERRED)


def test_nothing_is_collected_while_full_collections_are_not_deferred() -> None:
    idle, ran = _collector(_Clock())
    with restored_gc():
        t0, t1, _ = gc.get_threshold()
        gc.set_threshold(t0, t1, 10)
        assert not idle.collect_when_idle() and ran == []


def test_a_deferred_collection_runs_at_most_once_per_period_of_its_own_collector() -> None:
    clock = _Clock()
    idle, ran = _collector(clock)
    other, other_ran = _collector(clock)
    with restored_gc():
        defer_full_collections()
        assert gc.get_threshold()[2] == DEFERRED
        assert idle.collect_when_idle() and ran == [1_000.0]
        clock.now += 29.0
        assert not idle.collect_when_idle()
        assert other.collect_when_idle() and other_ran == [1_029.0]  # its own schedule, not the first one's
        clock.now += 1.0
        assert idle.collect_when_idle() and ran == [1_000.0, 1_030.0]


def test_a_thread_idle_while_another_collects_does_not_collect_too() -> None:
    clock = _Clock()
    inside: list[bool] = []

    def collect() -> None:  # another worker turns idle meanwhile
        clock.now += 60.0  # (even once the period has passed)
        t = threading.Thread(target=lambda: inside.append(idle.collect_when_idle()))
        t.start()
        t.join(10)

    idle = IdleCollector(30.0, clock=clock, collect=collect)
    with restored_gc():
        defer_full_collections()
        assert idle.collect_when_idle() and inside == [False]


def _run_until(run: Callable[[threading.Event], object], stop: threading.Event) -> None:
    """Run a worker until its idle hook stops it (or 30 s, so a hook never called fails the test, not hangs it)."""
    guard = threading.Timer(30.0, stop.set)
    guard.start()
    try:
        run(stop)
    finally:
        guard.cancel()


class _Forecasts:
    horizon, history, model_version, no_forecast_reason = 1, 5, "fake", ""

    def predict(self, frame: MarketFrame, row: int) -> Quantiles | None:
        n = len(frame.tickers)
        return Quantiles(np.full(n, -0.01), np.zeros(n), np.full(n, 0.01), np.full(n, 0.5))

    def prepare(self) -> None:
        self.prepared = True


def test_the_predict_worker_calls_what_it_was_given_once_idle_after_getting_ahead() -> None:
    bus = InMemoryBus()
    for k in (1, 2):
        bus.publish_many("market_data", [BarMessage(t, k * MIN, 10.0, 11.0, 9.0, 10.0, 100.0) for t in ("A", "B")])
    stop = threading.Event()
    seen: list[tuple[int, bool]] = []
    predictor = _Forecasts()

    def on_idle() -> None:
        seen.append((pw.counters.cross_sections, getattr(predictor, "prepared", False)))
        stop.set()

    pw = PredictWorker(bus, predictor, ("A", "B"), ("S", "S"), prepare_after_ms=0.0, on_idle=on_idle)
    _run_until(pw.run, stop)
    assert seen == [(2, True)]  # the bar forecast and published, the predictor ahead, then the idle work


class _Hold:
    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        return None


def test_the_trade_worker_calls_what_it_was_given_once_idle_after_its_steps() -> None:
    bus = InMemoryBus()
    close = np.full((3, 2), 10.0)
    m = MarketData(np.arange(1, 4, dtype=np.int64) * MIN, ("A", "B"), ("S", "S"), close, close, close, close,
                   np.full((3, 2), 1e3), timeframe="1min")
    replay_bars(bus, m)
    stop = threading.Event()
    steps: list[int] = []

    def on_idle() -> None:
        steps.append(stack.worker.counters.steps)
        stop.set()

    stack = build_trade_worker(bus, m.tickers, m.sectors, "1min", lambda _: _Hold(), make_broker("paper"),
                               SimulatedClock(), config=LiveConfig(trading=TradingConfig(rebalance_every=1)),
                               gate=None, on_idle=on_idle)
    _run_until(stack.worker.run, stop)
    assert steps == [3]
