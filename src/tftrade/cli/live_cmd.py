"""``tftrade live`` (every worker in one process) and ``tftrade worker NAME`` (one worker on Redis Streams)."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from tftrade.cli._common import JsonLinesOption, command, emit, engine, settings, tune_compute


def register(app: typer.Typer) -> None:
    """Add ``tftrade live`` and ``tftrade worker`` to the top-level app."""
    app.command("live")(live)
    app.command("worker")(worker)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Any:
    """SIGINT/SIGTERM set ``stop``: the workers finish what they hold, ack it, and return."""
    def handler(signum: int, frame: object) -> None:
        print(f"{signal.Signals(signum).name}: stopping after the work in hand", file=sys.stderr)
        stop.set()
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _options(tickers: list[str] | None, **kw: Any) -> Any:
    from tftrade.live.app import LiveOptions

    cfg = settings()
    tune_compute(cfg)
    for k in ("start", "end"):  # the command line's times are UTC
        if isinstance(kw.get(k), datetime) and kw[k].tzinfo is None:
            kw[k] = kw[k].replace(tzinfo=UTC)
    redis_url = kw.pop("redis_url") or (cfg.redis_url.get_secret_value() if cfg.redis_url else None)
    return cfg, LiveOptions(tickers=tuple(t.upper() for t in tickers or ()), home=cfg.home,
                            tracking_uri=cfg.forecast.tracking_uri(cfg.home), model_name=cfg.forecast.model_name,
                            scorer=cfg.sentiment.scorer, redis_url=redis_url, **kw)


@command
def live(
    tickers: list[str] | None = typer.Argument(None, help="Universe (default: every stored ticker)."),
    source: str = typer.Option("replay", "--source", help="replay (stored bars) or massive (live aggregates)."),
    broker: str = typer.Option("paper", "--broker", help="Broker by name (paper; others when installed)."),
    cadence: int = typer.Option(5, "--cadence", min=1, help="Decide every N bars."),
    strategy: str = typer.Option("tft", "--strategy", help="tft (forecasts + Black-Litterman) or sma."),
    model: Path | None = typer.Option(None, "--model",
                                      help="Saved model folder (default: the registry's champion, else its newest)."),
    speed: float = typer.Option(0.0, "--speed", min=0, help="Replay speed x real time (0: as fast as possible)."),
    start: datetime | None = typer.Option(None, "--start", help="Replay from (UTC)."),
    end: datetime | None = typer.Option(None, "--end", help="Replay to (UTC)."),
    cash: float = typer.Option(1_000_000.0, "--cash", min=1.0),
    flatten_minutes: int | None = typer.Option(None, "--flatten-minutes", min=1, help="Flatten before the close."),
    duration: float | None = typer.Option(None, "--duration", min=0, help="Stop after N seconds."),
    redis_url: str | None = typer.Option(None, "--redis-url", help="Bus on Redis Streams (default: in process)."),
    warm_start: bool = typer.Option(True, "--warm-start/--no-warm-start",
                                    help="--source massive: start with the last stored bars as history."),
    live_money: bool = typer.Option(False, "--live", help="Trade a live (real-money) Alpaca account: needs "
                                    "TFTRADE_LIVE_TRADING=true and live keys too (default: paper endpoints)."),
    follow_champion: bool = typer.Option(True, "--follow-champion/--no-follow-champion",
                                         help="Without --model: switch to a newly promoted champion at a bar "
                                              "boundary, once loaded and warmed (checked every 5 s); a champion "
                                              "this run cannot use is refused in one event line."),
    serve: bool = typer.Option(False, "--serve", help="Run the API and dashboard in this process (127.0.0.1)."),
    port: int = typer.Option(8787, "--port", min=0, max=65535, help="Port of --serve (0: any free port)."),
    as_json: bool = JsonLinesOption,
) -> None:
    """Trade live: ingest, sentiment, predict and trade workers in one process, on the backtest's loop.

    Decisions only inside the XNYS session; Ctrl-C (or SIGTERM) stops cleanly: nothing is
    acknowledged on the bus that was not processed. The desk's state is published to the cache
    (Redis when configured, so `tftrade serve` elsewhere shows it; --serve runs the API here),
    operators' pause/kill is obeyed, and every decision, gate check, order and fill goes to the
    audit chain. With --json, one JSON line per event. On the registry's model (no --model) a
    champion promoted meanwhile takes over at a bar boundary (event model_switched), or is refused
    (model_kept) when it cannot serve this run.
    """
    from tftrade.core.gc_tuning import IdleCollector, restored_gc
    from tftrade.live.app import live_bus_prefix, open_bus, run_live
    from tftrade.live.status import json_lines
    from tftrade.stream.shared import SharedBus

    if source not in ("replay", "massive") or strategy not in ("tft", "sma"):
        raise ValueError(f"--source must be replay or massive and --strategy tft or sma (got {source}, {strategy})")
    cfg, opts = _options(tickers, source=source, broker=broker, cadence=cadence, strategy=strategy, model=model,
                         speed=speed, start=start, end=end, cash=cash, flatten_minutes=flatten_minutes,
                         duration_s=duration, redis_url=redis_url, warm_start=warm_start, live_money=live_money,
                         follow_champion=follow_champion, freeze_gc=True)
    eng = engine(cfg)
    stop = threading.Event()
    idle_gc = IdleCollector()  # the full collections deferred once loaded (freeze_gc) run when the workers idle
    desk = live_desk(opts.redis_url)
    bus = SharedBus(open_bus(opts.redis_url, prefix=live_bus_prefix(opts)))  # the API's reader ends quietly on close
    sink = json_lines() if as_json else (lambda e: None)
    server = None
    try:
        if serve:
            server = serve_in_process(cfg, eng, desk, bus, port, with_model=strategy == "tft")
            sink({"event": "serving", "url": f"http://{server.host}:{server.port}/"})
            print(f"API and dashboard on http://{server.host}:{server.port}/", file=sys.stderr)

        def run(on_stack: Any = None) -> dict[str, object]:
            return run_live(eng, opts, sink, stop, on_stack, settings=cfg, desk=desk, recorders=audit_recorders(
                eng, opts.broker), bus=bus, check=wash_check(cfg), idle_gc=idle_gc)
        with _stop_on_signals(stop), restored_gc():
            summary = run() if as_json else _with_view(run, opts.cash)
    finally:
        if server is not None:
            server.stop()
        bus.close()
    if as_json:
        sink(summary)
    else:
        emit(summary, False, _render)


def live_desk(redis_url: str | None) -> Any:
    """The desk a live process publishes to: Redis (shared with `tftrade serve`) when configured."""
    from tftrade.core.clock import SystemClock
    from tftrade.service.build import desk_cache
    from tftrade.stream.desk import Desk

    return Desk(desk_cache(redis_url), SystemClock())


def serve_in_process(cfg: Any, eng: Any, desk: Any, bus: Any, port: int, *, with_model: bool) -> Any:
    """Start the API on 127.0.0.1:``port`` in this process around the live desk and bus; return the server."""
    from tftrade.service.app import create_app
    from tftrade.service.build import BackgroundServer, live_context

    ctx = live_context(cfg, eng, desk, bus, with_model=with_model)
    return BackgroundServer(create_app(ctx), "127.0.0.1", port).start()


def wash_check(cfg: Any) -> Any:
    """The wash-sale rule after the gate when ``risk.wash_sale`` asks for it (as in ``tftrade backtest``)."""
    from tftrade.cli.backtest_cmd import wash_sale_check

    make = wash_sale_check(cfg.risk.wash_sale)
    return None if make is None else make()


def audit_recorders(eng: Any, broker: str) -> Any:
    """The live audit chain's recorder factory (``None`` in a build without ``compliance.recorder``)."""
    try:
        from tftrade.compliance.audit_log import AuditLog
        from tftrade.compliance.recorder import AuditRecorder
    except ImportError:  # pragma: no cover - every full build has it
        return None

    def make(tickers: tuple[str, ...]) -> list[Any]:
        return [AuditRecorder(AuditLog(eng, chain="live"), tickers, strategy_version="live", gated=True,
                              account=broker)]
    return make


def _with_view(run: Any, cash: float) -> dict[str, object]:
    """Run with a rich status view refreshed twice a second (on a terminal)."""
    from rich.console import Console
    from rich.live import Live

    from tftrade.live.status import status_table

    console = Console(stderr=True)
    holder: dict[str, Any] = {}

    def on_stack(stack: Any, pw: Any) -> None:
        holder["stack"], holder["pw"] = stack, pw

    done = threading.Event()
    result: dict[str, object] = {}
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.update(run(on_stack))
        except BaseException as e:  # re-raised in the main thread
            errors.append(e)
        finally:
            done.set()

    th = threading.Thread(target=target, daemon=True)
    th.start()
    if console.is_terminal:
        with Live(console=console, refresh_per_second=2) as view:
            while not done.wait(0.5):
                if "stack" in holder:
                    s, pw = holder["stack"], holder["pw"]
                    view.update(status_table("tftrade live", s.worker.counters, dict(s.kit.broker.positions()), cash,
                                             None if pw is None else pw.counters.last_latency_ms))
    while th.is_alive():
        th.join(0.2)
    if errors:
        raise errors[0]
    return result


def _render(r: dict[str, Any]) -> None:
    print(f"{r['steps']} bars stepped over {r['tickers']} tickers in {r['seconds']} s: {r['decisions']} decisions, "
          f"{r['orders']} orders, {r['fills']} fills; equity {r['equity']:,.2f} (P&L {r['pnl']:+,.2f}); "
          f"book {'in sync' if r['in_sync'] else 'OUT OF SYNC'} with the broker")


@command
def worker(
    name: str = typer.Argument(..., help="ingest, sentiment, predict or trade."),
    tickers: list[str] | None = typer.Argument(None, help="Universe of predict/trade (default: every stored ticker)."),
    broker: str = typer.Option("paper", "--broker"),
    cadence: int = typer.Option(5, "--cadence", min=1),
    strategy: str = typer.Option("tft", "--strategy"),
    model: Path | None = typer.Option(None, "--model"),
    cash: float = typer.Option(1_000_000.0, "--cash", min=1.0),
    flatten_minutes: int | None = typer.Option(None, "--flatten-minutes", min=1),
    redis_url: str | None = typer.Option(None, "--redis-url", help="Redis URL (default: TFTRADE_REDIS_URL)."),
    warm_start: bool = typer.Option(True, "--warm-start/--no-warm-start", help="Start with the stored bars."),
    live_money: bool = typer.Option(False, "--live", help="Trade a live (real-money) Alpaca account (all opt-ins)."),
    nice: int | None = typer.Option(None, "--nice", min=0, max=19,
                                    help="CPU niceness of this worker (default: 10 for ingest, a bulk job that "
                                         "yields the cores to predict and trade; 0 for the others)."),
    follow_champion: bool = typer.Option(True, "--follow-champion/--no-follow-champion",
                                         help="predict, on the registry's model: a champion promoted meanwhile "
                                              "takes over at a bar boundary; one it cannot use is refused in one "
                                              "event line."),
    as_json: bool = JsonLinesOption,
) -> None:
    """Run one worker against Redis Streams (consumer groups); the trade worker holds a lease (one at a time).

    The trade worker publishes the desk to Redis (`tftrade serve` shows it), obeys pause/kill and
    keeps the audit chain. The predict worker, on the registry's model (no --model), follows a
    champion promoted meanwhile as `tftrade live` does (events model_switched / model_kept).
    """
    from tftrade.core.gc_tuning import IdleCollector, restored_gc
    from tftrade.live.app import run_worker
    from tftrade.live.status import json_lines

    if name not in ("ingest", "sentiment", "predict", "trade"):
        raise ValueError(f"unknown worker {name!r}: choose ingest, sentiment, predict or trade")
    cfg, opts = _options(tickers, broker=broker, cadence=cadence, strategy=strategy, model=model, cash=cash,
                         flatten_minutes=flatten_minutes, redis_url=redis_url, warm_start=warm_start,
                         live_money=live_money, nice=nice, follow_champion=follow_champion, freeze_gc=True)
    eng = engine(cfg)
    stop = threading.Event()
    sink = json_lines() if as_json else (lambda e: None)
    trade = name == "trade"
    with _stop_on_signals(stop), restored_gc():
        summary = run_worker(name, eng, opts, sink, stop, settings=cfg,
                             desk=live_desk(opts.redis_url) if name in {"trade", "predict"} and opts.redis_url
                             else None,
                             recorders=audit_recorders(eng, opts.broker) if trade else None,
                             idle_gc=IdleCollector())  # runs the full collections deferred once loaded (freeze_gc)
    if as_json:
        sink(summary)
    else:
        emit(summary, False)
