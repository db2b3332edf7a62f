"""``tftrade stream ...``: run a live source by hand, one line per event (one JSON line with ``--json``).

With the in-process bus the command also runs the matching worker (ingest or sentiment) so
what streams in lands in the store; with ``--bus redis`` it only publishes, for workers
elsewhere (``tftrade worker ...``). SIGINT/SIGTERM stop it cleanly; ``--duration`` stops it
after that many seconds.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import typer

from tftrade.cli._common import JsonLinesOption, command, engine, settings, stderr, to_jsonable

app = typer.Typer(help="Run a live source (Massive, Reddit, replay) onto the bus, by hand.", no_args_is_help=True)
BusOption = typer.Option("auto", "--bus", help="memory, redis, or auto (redis when TFTRADE_REDIS_URL is set).")
StoreOption = typer.Option(None, "--store/--no-store",
                           help="Run the worker that writes to the store (default: on with the in-process bus).")
DurationOption = typer.Option(None, "--duration", min=0.0, help="Stop after this many seconds.")


def _printer(as_json: bool) -> Callable[[dict[str, Any]], None]:
    lock = threading.Lock()

    def emit(event: dict[str, Any]) -> None:
        event = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), **event}
        if "start_ns" in event:
            event["start"] = datetime.fromtimestamp(event["start_ns"] / 1e9, UTC).isoformat()
        with lock:
            if as_json:
                sys.stdout.write(json.dumps(to_jsonable(event)) + "\n")
            else:
                rest = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("at", "event", "start_ns"))
                sys.stdout.write(f"{event['at']} {event['event']:<14} {rest}\n")
            sys.stdout.flush()

    return emit


def _stop_event(duration: float | None) -> threading.Event:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    if duration is not None:
        timer = threading.Timer(duration, stop.set)
        timer.daemon = True
        timer.start()
    return stop


def _bus(kind: str, cfg: Any, prefix: str = "tftrade") -> Any:
    from tftrade.stream.factory import make_bus

    if kind not in ("auto", "memory", "redis"):
        raise ValueError(f"--bus {kind!r} is not one of auto, memory, redis")
    url = cfg.redis_url.get_secret_value() if cfg.redis_url is not None else None
    return make_bus(kind, url, prefix=prefix)  # type: ignore[arg-type]


def _run_with_worker(run_source: Callable[[threading.Event], Any], worker: Any | None,
                     stop: threading.Event) -> Any:
    thread = None
    if worker is not None:
        thread = threading.Thread(target=worker.run, args=(stop,), name="worker", daemon=True)
        thread.start()
    try:
        return run_source(stop)
    finally:
        stop.set()
        if thread is not None:
            thread.join(30)


@app.command("massive")
@command
def stream_massive(
    tickers: list[str] = typer.Argument(None, help="Tickers (AM.<T>); none subscribes to AM.* (all)."),
    bus_kind: str = BusOption,
    store: bool | None = StoreOption,
    rest_url: str | None = typer.Option(None, "--rest-url", help="Override the Massive REST URL."),
    ws_url: str | None = typer.Option(None, "--ws-url", help="Override the Massive WebSocket URL."),
    backfill_minutes: int = typer.Option(390, "--backfill-minutes", min=0, help="Backfill this far back on start."),
    duration: float | None = DurationOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """Stream Massive minute bars onto market_data (REST backfill on start and after every reconnect)."""
    from tftrade.data.endpoints import VendorEndpoints
    from tftrade.data.massive import MassiveConfig, MassiveSource
    from tftrade.live.ingest_worker import IngestWorker

    cfg = settings()
    ep = VendorEndpoints.from_settings(cfg)
    ep = ep.model_copy(update={k: v for k, v in (("massive_rest_url", rest_url), ("massive_ws_url", ws_url)) if v})
    bus = _bus(bus_kind, cfg)
    emit = _printer(as_json)
    eng = engine(cfg)
    worker = IngestWorker(bus, eng) if _storing(store, bus) else None
    source = MassiveSource(bus, ep, tickers or [], config=MassiveConfig(backfill_minutes=backfill_minutes),
                           resume_from=_newest_stored(eng, tickers or []), on_event=emit)
    stop = _stop_event(duration)
    stats = _run_with_worker(source.run, worker, stop)
    emit({"event": "stopped", **stats.as_dict(), **({"ingest": worker.counters.as_dict()} if worker else {})})


@app.command("reddit")
@command
def stream_reddit(
    subreddits: list[str] = typer.Argument(None, help="Subreddits (default: the configured ones)."),
    bus_kind: str = BusOption,
    store: bool | None = StoreOption,
    scorer: str | None = typer.Option(None, "--scorer", help="lexicon or learned (default: settings)."),
    oauth_url: str | None = typer.Option(None, "--oauth-url", help="Override the Reddit OAuth API URL."),
    reddit_url: str | None = typer.Option(None, "--reddit-url", help="Override the Reddit (token) URL."),
    duration: float | None = DurationOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """Stream new Reddit comments onto social_data (and score, store and aggregate them per minute)."""
    from tftrade.data.endpoints import VendorEndpoints
    from tftrade.data.reddit import RedditSource

    cfg = settings()
    ep = VendorEndpoints.from_settings(cfg)
    ep = ep.model_copy(update={k: v for k, v in (("reddit_oauth_url", oauth_url), ("reddit_url", reddit_url)) if v})
    bus = _bus(bus_kind, cfg)
    emit = _printer(as_json)
    worker = None
    if _storing(store, bus):
        from tftrade.live.sentiment_worker import SentimentWorker
        from tftrade.sentiment.pipeline import annotator, extractor_from_store
        from tftrade.sentiment.scorer import make_scorer

        eng = engine(cfg)
        annotate = annotator(extractor_from_store(eng), make_scorer(scorer or cfg.sentiment.scorer))
        worker = SentimentWorker(bus, eng, annotate)
    source = RedditSource(bus, ep, subreddits or [], on_event=emit)
    stop = _stop_event(duration)
    stats = _run_with_worker(source.run, worker, stop)
    emit({"event": "stopped", **stats.as_dict(), **({"sentiment": worker.counters.as_dict()} if worker else {})})


@app.command("replay")
@command
def stream_replay(
    tickers: list[str] = typer.Argument(None, help="Tickers (default: all stored)."),
    speed: float = typer.Option(0.0, "--speed", min=0.0, help="N x real time; 0 = as fast as possible."),
    start: datetime | None = typer.Option(None, "--start", help="First bar time (UTC)."),
    end: datetime | None = typer.Option(None, "--end", help="End (exclusive, UTC)."),
    timeframe: str = typer.Option("1min", "--timeframe", help="1min, 5min, 15min, 30min, 1h or 1day."),
    bus_kind: str = BusOption,
    bars: bool = typer.Option(False, "--bars", help="One event per bar (default: one per time step)."),
    duration: float | None = DurationOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """Publish stored bars onto market_data in time order through the live path."""
    from tftrade.core.types import parse_timeframe
    from tftrade.data.replay import ReplayConfig, ReplaySource

    cfg = settings()
    bus = _bus(bus_kind, cfg)
    emit = _printer(as_json)
    utc = [t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t for t in (start, end)]
    if utc[0] is not None and utc[1] is not None and utc[1] <= utc[0]:
        raise ValueError(f"--end {utc[1].isoformat()} is not after --start {utc[0].isoformat()}")
    config = ReplayConfig(tickers=tuple(t.upper() for t in tickers or []), timeframe=parse_timeframe(timeframe),
                          start=utc[0], end=utc[1], speed=speed)

    def on_step(t: int, step: Any) -> None:
        if bars:
            for b in step:
                emit({"event": "bar", "ticker": b.ticker, "start_ns": b.start_ns, "open": b.open, "high": b.high,
                      "low": b.low, "close": b.close, "volume": b.volume})
        else:
            emit({"event": "step", "start_ns": t, "bars": len(step)})

    stop = _stop_event(duration)
    stats = ReplaySource(bus, engine(cfg), config, on_step=on_step).run(stop)
    emit({"event": "stopped", **stats.as_dict()})
    if stats.bars == 0:
        which = f"{timeframe} bars" + (f" of {', '.join(config.tickers)}" if config.tickers else "")
        stderr.print(f"no stored {which} matched: ingest some first (tftrade ingest synthetic | tftrade ingest csv)",
                     highlight=False)


def _newest_stored(eng: Any, tickers: list[str]) -> dict[str, int]:
    """Newest stored minute bar of each named ticker (epoch ns): the first backfill starts after it."""
    from tftrade.store.bars import bar_summary

    wanted = {t.upper() for t in tickers}
    out: dict[str, int] = {}
    for r in bar_summary(eng):
        last, ticker = r["last"], str(r["ticker"])
        if r["timeframe"] == "1min" and isinstance(last, datetime) and ticker in wanted:
            out[ticker] = int(last.timestamp()) * 1_000_000_000
    return out


def _storing(store: bool | None, bus: Any) -> bool:
    from tftrade.stream.memory import InMemoryBus

    return isinstance(bus, InMemoryBus) if store is None else store


@app.command("tail")
@command
def stream_tail(
    topic: str = typer.Argument(..., help="market_data, social_data, predictions, orders or fills."),
    group: str | None = typer.Option(None, "--group", help="Consumer group (default: a fresh one; others unaffected)."),
    from_start: bool = typer.Option(False, "--from-start", help="Begin at the oldest message kept, not new ones."),
    prefix: str = typer.Option("tftrade", "--prefix", help="Redis stream-name prefix."),
    bus_kind: str = typer.Option("redis", "--bus", help="redis (tail another process's bus) or memory."),
    duration: float | None = DurationOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """Print the messages on a topic of the Redis bus, one line each (acked in the tail's own group)."""
    import uuid

    import msgspec

    from tftrade.stream.consumer import ConsumerConfig, run_consumer
    from tftrade.stream.topics import check_topic

    name = check_topic(topic)
    bus = _bus(bus_kind, settings(), prefix)
    emit = _printer(as_json)
    cfg = ConsumerConfig(name, group or f"tail-{uuid.uuid4().hex[:8]}", "tail", count=256, block_ms=200,
                         from_start=from_start)

    def show(batch: list[Any]) -> None:
        for d in batch:
            if d.message is None:
                emit({"event": "undecodable", "id": d.id, "error": d.error, "raw": d.raw.decode("utf-8", "replace")})
            else:
                emit({"event": "message", "id": d.id, **msgspec.to_builtins(d.message)})

    stats = run_consumer(bus, cfg, show, _stop_event(duration))
    emit({"event": "stopped", "messages": stats.messages, "bus_errors": stats.bus_errors})
