"""``tftrade live`` and ``tftrade worker``: choose the source, bus, broker, strategy; run the workers.

``run_live`` runs every worker in one process (ingest → store, sentiment, predict, trade) fed by
a replay of stored bars or by Massive's live minute aggregates. ``run_worker`` runs one worker
against Redis Streams, so each scales out as its own process (consumer groups); the trade worker
holds a Redis lease so only one runs.
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

from sqlalchemy import Engine

from tftrade.core.clock import Clock, SimulatedClock, SystemClock
from tftrade.core.types import Timeframe
from tftrade.live.brokers import BrokerSettings, make_broker
from tftrade.live.errors import LiveError
from tftrade.live.predict_worker import PredictWorker
from tftrade.live.predictor import Predictor, TftPredictor
from tftrade.live.runner import LiveConfig, Service, TradeStack, Work, build_trade_worker, run_workers
from tftrade.live.session import XnysSession
from tftrade.live.status import percentiles
from tftrade.risk.gate import GateLimits, RiskGate
from tftrade.strategy.contract import Strategy
from tftrade.strategy.forecasts import ForecastRows
from tftrade.stream.bus import Bus
from tftrade.trading.config import TradingConfig

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, object]], None]


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


def open_bus(redis_url: str | None, prefix: str = "tftrade") -> Bus:
    """Redis Streams when a URL is given, else the in-process bus."""
    if redis_url:
        from tftrade.stream.redis_bus import RedisStreamsBus

        return RedisStreamsBus(redis_url, prefix=prefix)
    from tftrade.stream.memory import InMemoryBus

    return InMemoryBus()


def load_predictor(opts: LiveOptions) -> Predictor:
    """The TFT from ``--model DIR`` or the registry's latest version.

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

        trained, version = ModelRegistry(opts.home, opts.model_name, opts.tracking_uri).load()
        return TftPredictor(trained, model_version=version)
    except (NotFoundError, FileNotFoundError) as e:
        raise LiveError(f"no trained model ({e}); train one with `tftrade forecast train`, pass --model DIR, "
                        "or use --strategy sma") from None


def make_strategy(name: str, predictor: Predictor | None) -> Callable[[ForecastRows | None], Strategy]:
    """The strategy factory for ``name``."""
    if name == "sma":
        from tftrade.strategy.sma import SmaCrossover

        return lambda _: SmaCrossover()
    from tftrade.strategy.forecast_strategy import ForecastStrategy

    def tft(forecasts: ForecastRows | None) -> Strategy:
        if forecasts is None:
            raise LiveError("the tft strategy needs predictions")
        return ForecastStrategy(forecasts)
    return tft


def _universe(engine: Engine, opts: LiveOptions) -> Any:
    from tftrade.backtest.market import load_market

    return load_market(engine, tickers=list(opts.tickers) or None, timeframe=opts.timeframe, start=opts.start,
                       end=opts.end)


def _series(market: Any) -> dict[str, str]:
    """Role → ticker of the benchmark and volatility index that travel with the bars: none yet.

    The stored ``^MKT``/``^GSPC``/``^VIX`` series are price-only rows, which the replay source
    does not publish, and the live sources carry no index; a series configured here that never
    arrives would hold every cross-section until the next minute. Live, the gate's betas use the
    equal-weighted mean and the VIX block is off.
    """
    return {}


def run_live(engine: Engine, opts: LiveOptions, emit: Emit, stop: threading.Event,
             on_stack: Callable[[TradeStack, PredictWorker | None], None] | None = None) -> dict[str, object]:
    """Run every worker in this process until ``stop`` (or the replay ends); return the summary."""
    market = _universe(engine, opts)
    tickers, sectors = market.tickers, market.sectors
    predictor = load_predictor(opts) if opts.strategy == "tft" else None
    bus = open_bus(opts.redis_url, prefix=f"tftrade-live-{os.getpid()}" if opts.redis_url else "tftrade")
    clock: Clock = SimulatedClock(int(market.timestamps[0])) if opts.source == "replay" else SystemClock()
    kit = make_broker(opts.broker, BrokerSettings(cash=opts.cash))
    cfg = LiveConfig(trading=TradingConfig(rebalance_every=opts.cadence), window=opts.window,
                     flatten_minutes=opts.flatten_minutes)
    stack = build_trade_worker(bus, tickers, sectors, opts.timeframe, make_strategy(opts.strategy, predictor), kit,
                               clock, config=cfg, gate=RiskGate(GateLimits()),
                               session=XnysSession(opts.flatten_minutes),
                               horizon=predictor.horizon if predictor is not None else None, emit=emit,
                               series=_series(market))
    workers: list[tuple[str, Work]] = [("trade", stack.worker.run)]
    pw = None
    if predictor is not None:
        pw = PredictWorker(bus, predictor, tickers, sectors, opts.timeframe, engine=engine, on_event=emit)
        workers.append(("predict", pw.run))
    services = _services(bus, engine, opts)
    if opts.source == "massive" and opts.warm_start:
        from tftrade.live.warm import warm_window

        warm_window(engine, stack.worker.window, stack.worker.assembler)
        if pw is not None:
            warm_window(engine, pw.window, pw.assembler)
    if on_stack is not None:
        on_stack(stack, pw)
    source = _source(bus, engine, market, opts)
    if opts.duration_s is not None:
        timer = threading.Timer(opts.duration_s, stop.set)
        timer.daemon = True
        timer.start()
    emit({"event": "start", "tickers": len(tickers), "source": opts.source, "broker": opts.broker,
          "strategy": opts.strategy, "cadence": opts.cadence})
    t0 = time.monotonic()
    try:
        run_workers(workers, stop, source=source, services=services)
    finally:
        bus.close()
    c = stack.worker.counters
    summary: dict[str, object] = {
        "event": "summary", "seconds": round(time.monotonic() - t0, 3), "tickers": len(tickers),
        "bars": c.bars, "steps": c.steps, "decisions": c.decisions, "orders": c.orders, "fills": c.fills,
        "late_bars": c.late, "equity": c.equity, "pnl": c.equity - opts.cash,
        "positions": stack.kit.broker.positions(), "in_sync": stack.loop.reconcile().in_sync,
        "predictions": None if pw is None else pw.counters.predictions_published,
        "last_prediction_latency_ms": None if pw is None else pw.counters.last_latency_ms,
    }
    return summary


def _services(bus: Bus, engine: Engine, opts: LiveOptions) -> list[tuple[str, Service, Callable[[], bool]]]:
    from tftrade.live.ingest_worker import IngestWorker
    from tftrade.live.sentiment_worker import SentimentWorker
    from tftrade.sentiment.pipeline import annotator, extractor_from_store
    from tftrade.sentiment.scorer import make_scorer

    ingest = IngestWorker(bus, engine)
    sentiment = SentimentWorker(bus, engine, annotator(extractor_from_store(engine), make_scorer(opts.scorer)))
    return [("ingest", ingest.run, lambda: bus.pending("market_data", ingest.config.group) == 0),
            ("sentiment", sentiment.run, lambda: True)]


def _source(bus: Bus, engine: Engine, market: Any, opts: LiveOptions) -> Callable[[threading.Event], object] | None:
    if opts.source == "replay":
        from tftrade.data.replay import ReplayConfig, ReplaySource

        wanted = (*market.tickers, *_series(market).values())
        replay = ReplaySource(bus, engine, ReplayConfig(tickers=wanted, timeframe=opts.timeframe,
                                                        start=opts.start, end=opts.end, speed=opts.speed))
        return lambda stop: replay.run(stop)
    if opts.source == "massive":
        return massive_source(bus, market.tickers)
    raise LiveError(f"unknown source {opts.source!r}; choose replay or massive")


def massive_source(bus: Bus, tickers: Sequence[str]) -> Callable[[threading.Event], object]:
    """Massive's WebSocket minute aggregates onto ``market_data`` (the data package's source).

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

    src = massive.MassiveSource(bus, endpoints.VendorEndpoints.from_settings(load_settings()), list(tickers))
    return lambda stop: src.run(stop)


def run_worker(name: str, engine: Engine, opts: LiveOptions, emit: Emit, stop: threading.Event,
               clock: Clock | None = None) -> dict[str, object]:
    """Run one worker against Redis Streams until ``stop`` (see the module docstring).

    ``clock`` (default: the system clock) is the trade worker's time, which the session reads.
    """
    if not opts.redis_url:
        raise LiveError("a separate worker needs Redis: set TFTRADE_REDIS_URL or pass --redis-url")
    bus = open_bus(opts.redis_url, opts.bus_prefix)
    me = f"{name}-{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"
    try:
        if name == "ingest":
            from tftrade.live.ingest_worker import IngestWorker, IngestWorkerConfig

            iw = IngestWorker(bus, engine, IngestWorkerConfig(consumer=me))
            iw.run(stop)
            return {"event": "summary", "worker": name, **iw.counters.as_dict()}
        if name == "sentiment":
            from tftrade.live.sentiment_worker import SentimentWorker, SentimentWorkerConfig
            from tftrade.sentiment.pipeline import annotator, extractor_from_store
            from tftrade.sentiment.scorer import make_scorer

            sw = SentimentWorker(bus, engine, annotator(extractor_from_store(engine), make_scorer(opts.scorer)),
                                 SentimentWorkerConfig(consumer=me))
            sw.run(stop)
            return {"event": "summary", "worker": name, **sw.counters.as_dict()}
        market = _universe(engine, opts)
        if name == "predict":
            pw = PredictWorker(bus, load_predictor(opts), market.tickers, market.sectors, opts.timeframe,
                               engine=engine, consumer=me, on_event=emit)
            if opts.warm_start:
                from tftrade.live.warm import warm_window

                warm_window(engine, pw.window, pw.assembler)
            pw.run(stop)
            return {"event": "summary", "worker": name, **vars(pw.counters)}
        if name == "trade":
            return _trade_worker(bus, engine, market, opts, emit, stop, me, clock or SystemClock())
        raise LiveError(f"unknown worker {name!r}; choose ingest, sentiment, predict or trade")
    finally:
        bus.close()


def _trade_worker(bus: Bus, engine: Engine, market: Any, opts: LiveOptions, emit: Emit, stop: threading.Event,
                  me: str, clock: Clock) -> dict[str, object]:
    import redis

    from tftrade.live.lease import RedisLease

    assert opts.redis_url is not None
    lease = RedisLease(redis.Redis.from_url(opts.redis_url), f"{opts.bus_prefix}:lease:trade", me)
    lease.hold(stop)
    try:
        predictor = load_predictor(opts) if opts.strategy == "tft" else None
        kit = make_broker(opts.broker, BrokerSettings(cash=opts.cash))
        cfg = LiveConfig(trading=TradingConfig(rebalance_every=opts.cadence), window=opts.window,
                         flatten_minutes=opts.flatten_minutes)
        stack = build_trade_worker(bus, market.tickers, market.sectors, opts.timeframe,
                                   make_strategy(opts.strategy, predictor), kit, clock, config=cfg,
                                   gate=RiskGate(GateLimits()), session=XnysSession(opts.flatten_minutes),
                                   horizon=predictor.horizon if predictor is not None else None, emit=emit,
                                   consumer=me, series=_series(market))
        if opts.warm_start:
            from tftrade.live.warm import warm_window

            warm_window(engine, stack.worker.window, stack.worker.assembler)
        stack.worker.run(stop)
        c = stack.worker.counters
        return {"event": "summary", "worker": "trade", "steps": c.steps, "decisions": c.decisions,
                "orders": c.orders, "fills": c.fills, "equity": c.equity, "lease_lost": lease.lost.is_set(),
                "decision_ms": percentiles(c.decision_latencies_ms)}
    finally:
        lease.release()
