"""``tftrade live`` and ``tftrade worker``: choose the source, bus, broker, strategy; run the workers.

``run_live`` runs every worker in one process (ingest → store, sentiment, predict, trade) fed by
a replay of stored bars or by Massive's live minute aggregates. ``run_worker`` runs one worker
against Redis Streams, so each scales out as its own process (consumer groups); the trade worker
holds a lease (Redis, or a PostgreSQL advisory lock: setting ``trade_lease``) so only one runs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlalchemy import Engine

from tftrade.core.clock import Clock, SimulatedClock, SystemClock
from tftrade.core.config import Settings
from tftrade.core.gc_tuning import IdleCollector, freeze_startup_objects
from tftrade.core.types import Timeframe
from tftrade.live.brokers import BrokerKit, BrokerSettings, make_broker
from tftrade.live.champion import ChampionFollower
from tftrade.live.control import LiveControl
from tftrade.live.desk_recorder import DeskRecorder
from tftrade.live.duties import BrokerDuties
from tftrade.live.errors import LiveError
from tftrade.live.predict_worker import PredictWorker
from tftrade.live.predictor import Predictor, TftPredictor
from tftrade.live.runner import LiveConfig, Service, TradeStack, Work, build_trade_worker, run_workers
from tftrade.live.session import XnysSession
from tftrade.live.start import StartRead, read_start
from tftrade.live.status import percentiles
from tftrade.risk.gate import GateLimits, RiskGate
from tftrade.strategy.contract import Strategy
from tftrade.strategy.forecasts import ForecastRows
from tftrade.stream.bus import Bus
from tftrade.stream.desk import Desk
from tftrade.trading.config import TradingConfig
from tftrade.trading.feed import BarEvent
from tftrade.trading.loop import OrderCheck
from tftrade.trading.recorder import Recorder

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, object]], None]
RecorderFactory = Callable[[tuple[str, ...]], Sequence[Recorder]]
"""Builds extra recorders for a universe (``tftrade live``: the audit chain)."""


@dataclass(frozen=True)
class LiveOptions:
    """What ``tftrade live`` was asked for."""

    tickers: tuple[str, ...] = ()
    source: Literal["replay", "massive"] = "replay"
    broker: str = "paper"
    cadence: int = 5
    strategy: Literal["tft", "sma"] = "tft"
    model: Path | None = None
    speed: float = 0.0
    """Replay speed (× real time); 0 = as fast as possible."""
    start: datetime | None = None
    end: datetime | None = None
    cash: float = 1_000_000.0
    flatten_minutes: int | None = None
    redis_url: str | None = None
    timeframe: Timeframe = "1min"
    window: int = 1024
    duration_s: float | None = None
    home: Path = Path(".")
    tracking_uri: str | None = None
    model_name: str = "tft"
    scorer: str = "lexicon"
    bus_prefix: str = "tftrade"
    """Redis key prefix of the streams (and of the trade lease) of ``tftrade worker``."""
    warm_start: bool = True
    """Live workers (``--source massive``, ``tftrade worker``) start with the stored bars as history."""
    live_money: bool = False
    """``--live``: trade a live (real-money) account; only with every opt-in (docs/execution.md)."""
    settle_s: float = 5.0
    """At the end of a run, how long to wait for the fills of orders still at a real broker."""
    freeze_gc: bool = False
    """Once loaded and warmed, move every object into the collector's permanent generation
    (:func:`~tftrade.core.gc_tuning.freeze_startup_objects`): ``tftrade live`` and ``tftrade worker`` do, so
    no full collection (0.6 s over the loaded libraries) lands on a bar; off for in-process callers (tests).
    The full collections then run when the workers are idle, through the ``idle_gc`` the caller passes to
    :func:`run_live`/:func:`run_worker` (without one, only the collector's own rule at
    :data:`~tftrade.core.gc_tuning.DEFERRED` runs them)."""
    follow_champion: bool = True
    """On the registry's model (no ``model``): switch to a newly promoted champion at a bar boundary, once
    vetted, loaded and warmed (:mod:`tftrade.live.champion`); ``False``: the model chosen at start, to the end."""
    champion_poll_s: float = 5.0
    """Seconds between two looks for a new champion (as ``tftrade serve``'s)."""
    nice: int | None = None
    """``tftrade worker``: the worker's niceness (``None``: :data:`~tftrade.live.priority.DEFAULT_NICE`, 10 for
    ingest, 0 for the others; see :mod:`tftrade.live.priority`)."""


def open_bus(redis_url: str | None, prefix: str = "tftrade") -> Bus:
    """Redis Streams when a URL is given, else the in-process bus."""
    if redis_url:
        from tftrade.stream.redis_bus import RedisStreamsBus

        return RedisStreamsBus(redis_url, prefix=prefix)
    from tftrade.stream.memory import InMemoryBus

    return InMemoryBus()


def load_predictor(opts: LiveOptions) -> Predictor:
    """The TFT from ``--model DIR``, or the registry's champion (the newest version while none is set).

    The registry's one rule (:meth:`~tftrade.forecast.registry.ModelRegistry.select`), as ``tftrade serve``
    and ``tftrade predict``; the version chosen and why are logged.

    Raises
    ------
    LiveError
        If there is no trained model.
    """
    from tftrade.core.errors import NotFoundError

    try:
        if opts.model is not None:
            from tftrade.forecast.persistence import load_model

            return TftPredictor(load_model(opts.model), model_version=opts.model.name)
        from tftrade.forecast.registry import ModelRegistry

        registry = ModelRegistry(opts.home, opts.model_name, opts.tracking_uri)
        chosen = registry.select()
        trained, version = registry.load(chosen.version)
        log.info("live: model %s", chosen.detail)
        predictor = TftPredictor(trained, model_version=version)
        predictor.selection = chosen.selection
        return predictor
    except (NotFoundError, FileNotFoundError) as e:
        raise LiveError(f"no trained model ({e}); train one with `tftrade forecast train`, pass --model DIR, "
                        "or use --strategy sma") from None


def _model_fields(predictor: Predictor | None) -> dict[str, object]:
    """The model a run trades with and why (``champion``, ``newest``; ``None``: a ``--model`` folder), for its start
    event; nothing for a strategy without one."""
    if predictor is None:
        return {}
    return {"model_version": predictor.model_version, "model_selection": getattr(predictor, "selection", None)}


def follows_champion(opts: LiveOptions) -> bool:
    """Whether the run's predictor follows the registry's champion: on the registry's model (no ``--model``)
    and not told otherwise (``--no-follow-champion``)."""
    return opts.model is None and opts.follow_champion


def follow_champion(opts: LiveOptions, pw: PredictWorker, emit: Emit, desk: Desk | None = None) -> ChampionFollower:
    """The follower of the registry's champion for ``pw`` (whose predictor came from the registry), attached to it
    as its switch; its new predictors built as :func:`load_predictor` builds them, at the run's horizon, with the
    worker's inputs."""
    from tftrade.forecast.registry import ModelRegistry

    if not isinstance(pw.predictor, TftPredictor):
        raise LiveError("only the TFT follows the registry's champion")

    def make(trained: Any, version: str, horizon: int) -> TftPredictor:
        predictor = TftPredictor(trained, horizon, model_version=version)
        predictor.selection = "champion"
        pw.use_stored_sentiment(predictor)
        return predictor

    follower = ChampionFollower(ModelRegistry(opts.home, opts.model_name, opts.tracking_uri), pw.predictor, pw.window,
                                make=make, emit=emit, desk=desk, every_s=opts.champion_poll_s)
    pw.switch = follower
    return follower


def make_strategy(name: str, predictor: Predictor | None,
                  config: Any = None) -> Callable[[ForecastRows | None], Strategy]:
    """The strategy factory for ``name`` (``config``: the forecast strategy's ``StrategyConfig``, as a backtest's)."""
    if name == "sma":
        from tftrade.strategy.sma import SmaCrossover

        return lambda _: SmaCrossover()
    from tftrade.strategy.forecast_strategy import ForecastStrategy

    def tft(forecasts: ForecastRows | None) -> Strategy:
        if forecasts is None:
            raise LiveError("the tft strategy needs predictions")
        return ForecastStrategy(forecasts, None, config)
    return tft


def read_universe(engine: Engine, opts: LiveOptions, warm: Sequence[int] = ()) -> StartRead:
    """The run's market (``load_market`` over ``--start``/``--end``) and, for warm windows of the capacities
    ``warm``, their history: one read of the stored bars (:mod:`tftrade.live.start`)."""
    return read_start(engine, opts.tickers, opts.timeframe, opts.start, opts.end, warm=warm)


def _series(market: Any) -> dict[str, str]:
    """Role → ticker of the benchmark and volatility index that travel with the bars: none yet.

    The stored ``^MKT``/``^GSPC``/``^VIX`` series are price-only rows, which the replay source
    does not publish, and the live sources carry no index; a series configured here that never
    arrives would hold every cross-section until the next minute. Live, the gate's betas use the
    equal-weighted mean and the VIX block is off.
    """
    return {}


def open_kit(opts: LiveOptions, engine: Engine, clock: Clock, emit: Emit, settings: Any = None) -> BrokerKit:
    """The broker by name (``--broker``), with the live opt-in (``--live``) and the settings it reads.

    With ``settings``, a paper broker prices fills with the ``costs`` section as a backtest does.
    """
    def announce(line: str) -> None:
        log.warning("%s", line)
        emit({"event": "broker", "broker": opts.broker, "line": line})
    costs = None
    if isinstance(settings, Settings):
        from tftrade.backtest.config import trading_setup

        costs = trading_setup(settings, opts.timeframe).cost_model()
    return make_broker(opts.broker, BrokerSettings(cash=opts.cash, live=opts.live_money, settings=settings,
                                                   engine=engine, clock=clock, announce=announce, costs=costs))


@dataclass
class DeskParts:
    """What a trade stack publishes through and is braked by."""

    control: LiveControl
    recorder: DeskRecorder | None


def build_stack(bus: Bus, market: Any, opts: LiveOptions, emit: Emit, clock: Clock, kit: BrokerKit,
                predictor: Predictor | None, *, desk: Desk | None = None, recorders: Sequence[Recorder] = (),
                consumer: str = "trade-1", settings: Any = None,
                check: OrderCheck | None = None,
                on_idle: Callable[[], object] | None = None) -> tuple[TradeStack, DeskParts]:
    """One trade stack with its control (pause, kill, breaker), desk recorder and extra recorders (audit).

    With ``settings``, the ``risk`` and ``stops`` sections set the gate's limits and the loop's stops as
    in a backtest (:func:`~tftrade.backtest.config.trading_setup`); ``check`` is the rule applied after
    the gate (the wash-sale rule of ``risk.wash_sale``); ``on_idle`` is the trade worker's idle work.
    """
    trading = TradingConfig(rebalance_every=opts.cadence)
    gate = RiskGate(GateLimits())
    strategy_config = None
    if isinstance(settings, Settings):
        from tftrade.backtest.config import trading_setup

        setup = trading_setup(settings, opts.timeframe)
        gate = RiskGate(setup.gate_limits())
        strategy_config = setup.strategy()  # optimiser limits, tax-aware term and harvesting as in a backtest
        looped = setup.backtest_config().model_dump(include=set(TradingConfig.model_fields))
        trading = TradingConfig(**{**looped, "rebalance_every": opts.cadence})
    control = LiveControl(kit.broker, kit.switch, clock, desk=desk, max_drawdown=gate.limits.max_drawdown, emit=emit)
    desk_rec = None
    if desk is not None:
        desk_rec = DeskRecorder(desk, market.tickers, market.sectors, initial_cash=opts.cash, limits=gate.limits,
                                about={"broker": opts.broker, "source": opts.source, "strategy": opts.strategy,
                                       "cadence": opts.cadence, "tickers": len(market.tickers)},
                                control=control)
    cfg = LiveConfig(trading=trading, window=opts.window, flatten_minutes=opts.flatten_minutes)
    recs: list[Recorder] = [control, *([desk_rec] if desk_rec is not None else []), *recorders]
    stack = build_trade_worker(bus, market.tickers, market.sectors, opts.timeframe,
                               make_strategy(opts.strategy, predictor, strategy_config), kit, clock, config=cfg,
                               gate=gate,
                               session=XnysSession(opts.flatten_minutes),
                               horizon=predictor.horizon if predictor is not None else None, emit=emit,
                               series=_series(market), recorders=recs, control=control, consumer=consumer,
                               on_order=desk_rec.order_seen if desk_rec is not None else None, check=check,
                               on_idle=on_idle)
    if desk_rec is not None:
        desk_rec.attach(stack.loop)
        desk_rec.counters, desk_rec.forecasts = stack.worker.counters, stack.forecasts
        if isinstance(kit.fills, BrokerDuties):
            kit.fills.on_mismatch = desk_rec.reconciliation_mismatch
    if isinstance(kit.fills, BrokerDuties):
        kit.fills.universe = frozenset(market.tickers)
    control.refresh()  # a kill file or a desk kill already there: nothing is sent
    if kit.start is not None:
        kit.start()
    if kit.ledger is not None:
        from tftrade.live.duties import seed_loop

        seed_loop(stack.loop, kit.ledger())
    return stack, DeskParts(control, desk_rec)


def watch_control(parts: DeskParts, every_s: float = 0.5) -> Callable[[threading.Event], object]:
    """A service: read the brakes and publish what the throttle held back, every ``every_s`` seconds."""
    def run(stop: threading.Event) -> None:
        while not stop.wait(every_s):
            try:
                with parts.control.lock:
                    parts.control.refresh()
                    if parts.recorder is not None:
                        parts.recorder.flush_due()
            except Exception:  # the loop keeps its own per-bar check; a failed round is logged and retried
                log.exception("control round failed")
    return run


def settle(stack: TradeStack, parts: DeskParts, timeout_s: float) -> None:
    """Book the fills still in flight at a real broker, mark the book once more, publish everything."""
    kit, loop, worker = stack.kit, stack.loop, stack.worker
    with parts.control.lock:
        if kit.settle is not None:
            fills = kit.settle(timeout_s)
            if fills:
                loop.book(fills)
                worker.counters.fills = stack.recorder.c.fills
        if len(worker.window) and worker.counters.steps:
            event = BarEvent(worker.counters.steps - 1, len(worker.window) - 1, worker.window)
            value = loop.positions * np.nan_to_num(loop.last)
            equity = loop.broker.cash() + float(value.sum())
            worker.counters.equity = equity
            eq = equity if equity > 0 else float("nan")
            beta = float((value / eq) @ loop.betas) if np.isfinite(eq) else float("nan")
            loop.recorder.mark(event, equity, loop.broker.cash(), value, beta)
        if parts.recorder is not None:
            parts.recorder.flush()


def run_live(engine: Engine, opts: LiveOptions, emit: Emit, stop: threading.Event,
             on_stack: Callable[[TradeStack, PredictWorker | None], None] | None = None, *,
             settings: Any = None, desk: Desk | None = None,
             recorders: RecorderFactory | None = None, bus: Bus | None = None,
             check: OrderCheck | None = None, idle_gc: IdleCollector | None = None) -> dict[str, object]:
    """Run every worker in this process until ``stop`` (or the replay ends); return the summary.

    ``desk`` (given by ``tftrade live``) receives the desk's documents and events and carries the
    operators' control; ``recorders`` (the audit chain) see everything the loop does; ``settings``
    are what a real broker reads (endpoints, keys, kill file). ``bus`` (default: one opened for
    the run and closed after it) lets the caller share it (the in-process API of ``--serve``). ``idle_gc``
    (``tftrade live``'s) runs the deferred full collections when the predict or trade worker is idle.
    """
    on_idle = None if idle_gc is None else idle_gc.collect_when_idle
    predictor = load_predictor(opts) if opts.strategy == "tft" else None
    warm = opts.source == "massive" and opts.warm_start
    start = read_universe(engine, opts, [opts.window, *([predictor.history] if predictor is not None else [])]
                          if warm else [])
    market = start.market
    tickers = market.tickers
    clock: Clock = SimulatedClock(int(market.timestamps[0])) if opts.source == "replay" else SystemClock()
    kit = open_kit(opts, engine, clock, emit, settings)
    own_bus = bus is None
    if bus is None:
        bus = open_bus(opts.redis_url, prefix=live_bus_prefix(opts))
    try:
        stack, parts = build_stack(bus, market, opts, emit, clock, kit, predictor, desk=desk,
                                   recorders=recorders(tickers) if recorders is not None else (),
                                   settings=settings, check=check, on_idle=on_idle)
        workers: list[tuple[str, Work]] = [("trade", stack.worker.run)]
        pw = None
        if predictor is not None:
            pw = PredictWorker(bus, predictor, tickers, market.sectors, opts.timeframe, engine=engine, on_event=emit,
                               on_idle=on_idle)
            workers.append(("predict", pw.run))
        services = _services(bus, engine, opts)
        # the registry's model: a champion promoted meanwhile takes over
        follower = follow_champion(opts, pw, emit, desk) if pw is not None and follows_champion(opts) else None
        if follower is not None:
            services.append(("champion", follower.run, lambda: True))
        services.append(("control", watch_control(parts), lambda: True))
        if warm:
            start.warm(engine, stack.worker.window, stack.worker.assembler)
            if pw is not None:
                start.warm(engine, pw.window, pw.assembler)
        del start  # the bars read: the windows hold what they need
        if on_stack is not None:
            on_stack(stack, pw)
        source = _source(bus, engine, market, opts, emit)
        if opts.duration_s is not None:
            timer = threading.Timer(opts.duration_s, stop.set)
            timer.daemon = True
            timer.start()
        emit({"event": "start", "tickers": len(tickers), "source": opts.source, "broker": opts.broker,
              "strategy": opts.strategy, "cadence": opts.cadence, **_model_fields(predictor),
              **({"follow_champion": follower is not None} if predictor is not None else {})})
        if opts.freeze_gc:  # model, windows and libraries loaded: no full collection walks them mid-bar
            freeze_startup_objects()
        t0 = time.monotonic()
        try:
            run_workers(workers, stop, source=source, services=services)
        finally:
            settle(stack, parts, opts.settle_s)
        c = stack.worker.counters
        summary: dict[str, object] = {
            "event": "summary", "seconds": round(time.monotonic() - t0, 3), "tickers": len(tickers),
            "bars": c.bars, "steps": c.steps, "decisions": c.decisions, "orders": c.orders, "fills": c.fills,
            "late_bars": c.late, "equity": c.equity, "pnl": c.equity - opts.cash,
            "positions": stack.kit.broker.positions(), "in_sync": stack.loop.reconcile().in_sync,
            "killed": parts.control.killed or None,
            "predictions": None if pw is None else pw.counters.predictions_published,
            "no_forecast_bars": None if pw is None else pw.counters.no_forecast,
            "last_prediction_latency_ms": None if pw is None else pw.counters.last_latency_ms,
        }
        return summary
    finally:
        if own_bus:
            bus.close()
        if kit.close is not None:
            kit.close()


def live_bus_prefix(opts: LiveOptions) -> str:
    """The bus's key prefix of one ``tftrade live`` process (its own streams on a shared Redis)."""
    return f"tftrade-live-{os.getpid()}" if opts.redis_url else "tftrade"


def _services(bus: Bus, engine: Engine, opts: LiveOptions) -> list[tuple[str, Service, Callable[[], bool]]]:
    from tftrade.live.ingest_worker import IngestWorker
    from tftrade.live.sentiment_worker import SentimentWorker, SentimentWorkerConfig
    from tftrade.sentiment.pipeline import annotator, extractor_from_store
    from tftrade.sentiment.scorer import make_scorer

    ingest = IngestWorker(bus, engine)
    sentiment = SentimentWorker(bus, engine, annotator(extractor_from_store(engine), make_scorer(opts.scorer)),
                                SentimentWorkerConfig(timeframe=opts.timeframe))
    def run_ingest(stop: threading.Event) -> None:  # a bulk job: this thread yields the cores (Linux)
        from tftrade.live.priority import lower_thread_priority, worker_niceness

        lower_thread_priority(worker_niceness("ingest"))
        ingest.run(stop)

    return [("ingest", run_ingest, lambda: bus.pending("market_data", ingest.config.group) == 0),
            ("sentiment", sentiment.run, lambda: True)]


def _source(bus: Bus, engine: Engine, market: Any, opts: LiveOptions,
            emit: Emit | None = None) -> Callable[[threading.Event], object] | None:
    if opts.source == "replay":
        from tftrade.data.replay import ReplayConfig, ReplaySource

        wanted = (*market.tickers, *_series(market).values())
        replay = ReplaySource(bus, engine, ReplayConfig(tickers=wanted, timeframe=opts.timeframe,
                                                        start=opts.start, end=opts.end, speed=opts.speed))
        return lambda stop: replay.run(stop)
    if opts.source == "massive":
        return massive_source(bus, market.tickers, emit)
    raise LiveError(f"unknown source {opts.source!r}; choose replay or massive")


def massive_source(bus: Bus, tickers: Sequence[str], emit: Emit | None = None) -> Callable[[threading.Event], object]:
    """Massive's WebSocket minute aggregates onto ``market_data`` (the data package's source).

    ``emit`` receives the source's events but its per-bar ones (connected, disconnected, backfill,
    malformed, late, status, ...), marked ``"source": "massive"``.

    Raises
    ------
    LiveError
        If this build has no Massive source.
    """
    import importlib

    try:
        massive: Any = importlib.import_module("tftrade.data.massive")
        endpoints: Any = importlib.import_module("tftrade.data.endpoints")
    except ImportError as e:
        raise LiveError(f"the Massive source is not available in this build ({e})") from None
    from tftrade.core.config import load_settings

    def on_event(event: dict[str, object]) -> None:
        if emit is not None and event.get("event") != "bar":
            emit({**event, "source": "massive"})

    src = massive.MassiveSource(bus, endpoints.VendorEndpoints.from_settings(load_settings()), list(tickers),
                                on_event=on_event)
    return lambda stop: src.run(stop)


def run_worker(name: str, engine: Engine, opts: LiveOptions, emit: Emit, stop: threading.Event,
               clock: Clock | None = None, *, settings: Any = None, desk: Desk | None = None,
               recorders: RecorderFactory | None = None, idle_gc: IdleCollector | None = None) -> dict[str, object]:
    """Run one worker against Redis Streams until ``stop`` (see the module docstring).

    ``clock`` (default: the system clock) is the trade worker's time, which the session reads;
    ``settings``, ``desk``, ``recorders`` and ``idle_gc`` (predict and trade) as in :func:`run_live`. The
    calling thread, and the threads it starts, first take the worker's niceness (``opts.nice``,
    default :data:`~tftrade.live.priority.DEFAULT_NICE`: the ingest worker, a bulk job, runs at 10 so
    it yields the cores to the predict and trade workers).
    """
    from tftrade.live.priority import lower_priority, worker_niceness

    if not opts.redis_url:
        raise LiveError("a separate worker needs Redis: set TFTRADE_REDIS_URL or pass --redis-url")
    nice = lower_priority(worker_niceness(name, opts.nice))
    log.info("worker %s runs at niceness %d", name, nice)
    bus = open_bus(opts.redis_url, opts.bus_prefix)
    me = f"{name}-{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"
    on_idle = None if idle_gc is None else idle_gc.collect_when_idle
    try:
        if name == "ingest":
            from tftrade.live.ingest_worker import IngestWorker, IngestWorkerConfig

            iw = IngestWorker(bus, engine, IngestWorkerConfig(consumer=me))
            iw.run(stop)
            return {"event": "summary", "worker": name, "nice": nice, **iw.counters.as_dict()}
        if name == "sentiment":
            from tftrade.live.sentiment_worker import SentimentWorker, SentimentWorkerConfig
            from tftrade.sentiment.pipeline import annotator, extractor_from_store
            from tftrade.sentiment.scorer import make_scorer

            sw = SentimentWorker(bus, engine, annotator(extractor_from_store(engine), make_scorer(opts.scorer)),
                                 SentimentWorkerConfig(consumer=me, timeframe=opts.timeframe))
            sw.run(stop)
            return {"event": "summary", "worker": name, **sw.counters.as_dict()}
        if name == "predict":
            predictor = load_predictor(opts)
            start = read_universe(engine, opts, [predictor.history] if opts.warm_start else [])
            market = start.market
            pw = PredictWorker(bus, predictor, market.tickers, market.sectors, opts.timeframe,
                               engine=engine, consumer=me, on_event=emit, on_idle=on_idle)
            if opts.warm_start:
                start.warm(engine, pw.window, pw.assembler)
            del start
            follower = follow_champion(opts, pw, emit, desk) if follows_champion(opts) else None
            emit({"event": "start", "worker": name, **_model_fields(predictor),
                  "follow_champion": follower is not None})
            if opts.freeze_gc:
                freeze_startup_objects()

            def busy(_: str) -> None:  # still loading or warming a version: what it has not published is said here
                assert follower is not None
                log.warning("the champion follower was still busy at shutdown (%s); desk events not published: %d",
                            follower.state, follower.pending_desk_events)

            done = run_workers([("predict", pw.run)], stop, join_s=30.0, on_busy=busy,
                               services=[("champion", follower.run, lambda: True)] if follower is not None else [])
            return {"event": "summary", "worker": name, **vars(done["predict"])}
        if name == "trade":
            return _trade_worker(bus, engine, opts, emit, stop, me, clock or SystemClock(), settings, desk,
                                 recorders, on_idle)
        raise LiveError(f"unknown worker {name!r}; choose ingest, sentiment, predict or trade")
    finally:
        bus.close()


def _trade_worker(bus: Bus, engine: Engine, opts: LiveOptions, emit: Emit, stop: threading.Event,
                  me: str, clock: Clock, settings: Any = None, desk: Desk | None = None,
                  recorders: RecorderFactory | None = None,
                  on_idle: Callable[[], object] | None = None) -> dict[str, object]:
    from tftrade.live.lease import make_lease

    lease = make_lease(getattr(settings, "trade_lease", "redis"), f"{opts.bus_prefix}:lease:trade", me,
                       redis_url=opts.redis_url, database_url=engine.url.render_as_string(hide_password=False))
    lease.hold(stop)
    kit: BrokerKit | None = None
    try:
        start = read_universe(engine, opts, [opts.window] if opts.warm_start else [])
        market = start.market
        predictor = load_predictor(opts) if opts.strategy == "tft" else None
        kit = open_kit(opts, engine, clock, emit, settings)
        stack, parts = build_stack(bus, market, opts, emit, clock, kit, predictor, desk=desk,
                                   recorders=recorders(market.tickers) if recorders is not None else (), consumer=me,
                                   settings=settings, on_idle=on_idle)
        if opts.warm_start:
            start.warm(engine, stack.worker.window, stack.worker.assembler)
        del start  # the bars read: the window holds what it needs
        if opts.freeze_gc:
            freeze_startup_objects()
        run_workers([("trade", stack.worker.run)], stop, services=[("control", watch_control(parts), lambda: True)])
        settle(stack, parts, opts.settle_s)
        c = stack.worker.counters
        return {"event": "summary", "worker": "trade", "steps": c.steps, "decisions": c.decisions,
                "orders": c.orders, "fills": c.fills, "equity": c.equity, "lease_lost": lease.lost.is_set(),
                "killed": parts.control.killed or None, "decision_ms": percentiles(c.decision_latencies_ms)}
    finally:
        if kit is not None and kit.close is not None:
            kit.close()
        lease.release()
