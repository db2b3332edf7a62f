"""Benchmark: end-to-end latency of the live path, bar arrival → prediction → decision → order (prints, never asserts).

500 tickers (synthetic market), the ``default`` TFT preset (briefly fitted: latency does not
depend on how well it forecasts), the platform strategy (forecasts → Black-Litterman →
optimiser) deciding on every bar, the risk gate and the paper broker. In one process, as
``tftrade live`` runs them: a replay publishes each minute's 500 bars onto the in-process bus,
the predict worker (``StreamingForecaster``) forecasts every closed cross-section and publishes
the predictions, the trade worker waits for them and steps the trading loop.

Latencies are measured from a cross-section's arrival (the time its bars were published):

* **prediction**: until the predict worker has published the 500 predictions;
* **bar → decision**: until the strategy has returned its targets;
* **bar → order**: until the orders have reached the broker.

The predict worker's share is split into the time from arrival until it starts on the
cross-section (bus, assembly, queue) and the predictor's own time (features, network). The
network's part is one encoder step, the decoder, attention and head: once a bar's predictions
are published and a read of the bus finds nothing new (50 ms), the worker runs ahead the encoder
of the next window's first ``C - 1`` bars (``TftPredictor.prepare``), in the idle time before
the next bar; that time is printed too, and is no part of any latency (on a loaded machine it
can still overlap the trade worker's decision).

While it runs, a separate process runs the **ingest worker** loading 500-ticker minute bars
from its own bus into a SQLite store as fast as it can (``--no-load`` turns it off), so the
figures are taken with a neighbour busy on the same cores. The neighbour first takes the CPU
priority ``tftrade worker ingest`` runs at (:mod:`tftrade.live.priority`: niceness 10 by default,
``--nice`` to change it), and the benchmark measures twice, each time with a fresh bus and
workers: the neighbour at that default, then at niceness 0 (``--neighbour-nice N``, repeatable,
chooses). Warm-up bars (the model's warm-up + context) are replayed first and not measured, then
``--settle-bars`` (3) paced bars whose latencies are printed apart (the loop's first decisions
and the neighbour's start land on them: the first paced bar was the slowest of 40 in most runs);
then one measured cross-section every ``--interval-ms``. As ``tftrade live`` does once loaded, the process's
objects are frozen out of the collector's reach before the workers start (``--no-freeze`` does not).

Besides the latencies it prints each thread's CPU time per bar (the predictor's, the trading
loop's step), the garbage collections while measuring and, for the three slowest predictions,
where their time went: when CPU time is far below the wall time, the thread was waiting for a
core (other processes) or the GIL (the process's other threads).

    python benchmarks/live_latency.py [--tickers 500] [--bars 120] [--interval-ms 400] [--no-load]
                                      [--neighbour-nice N ...] [--settle-bars 3] [--no-freeze] [--threads 1]
                                      [--preset default] [--strategy tft|sma]

The interval must exceed the time one bar takes end to end, or bars queue and the latencies
measure the queue: at 500 tickers the Black-Litterman decision (covariance, factor model,
posterior, QP over 500 names) dominates, so ``--strategy tft`` needs a longer interval.
"""

from __future__ import annotations

import argparse
import gc
import logging
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time

import numpy as np


def _load(stop: mp.synchronize.Event, n_tickers: int, counter: mp.sharedctypes.Synchronized[int],
          nice: int | None) -> None:
    """The neighbour: an ingest worker storing bars from its own bus as fast as they come, at the priority
    ``tftrade worker ingest`` takes (``nice``: its ``--nice``; ``None``: the default)."""
    from tftrade.live.priority import lower_priority, worker_niceness

    lower_priority(worker_niceness("ingest", nice))  # first, as run_worker does: every thread inherits it
    import torch

    torch.set_num_threads(1)
    from tftrade.backtest.market import from_frame
    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.live.ingest_worker import IngestWorker
    from tftrade.live.replay import replay_bars
    from tftrade.store.engine import make_engine
    from tftrade.store.migrate import upgrade
    from tftrade.stream.memory import InMemoryBus

    logging.disable(logging.WARNING)
    sm = generate_market(SyntheticConfig(n_tickers=n_tickers, days=1, seed=11))
    market = from_frame(sm.bars_frame(), timeframe="1min")
    done = 0
    while not stop.is_set():
        with tempfile.TemporaryDirectory() as d:
            eng = make_engine(f"sqlite:///{d}/load.db")
            upgrade(eng)
            bus = InMemoryBus()
            worker_stop = threading.Event()
            w = IngestWorker(bus, eng)
            th = threading.Thread(target=w.run, args=(worker_stop,), daemon=True)
            th.start()
            replay_bars(bus, market, stop=None)
            while w.counters.bars < np.isfinite(market.close).sum() and not stop.is_set():
                counter.value = done + int(w.counters.inserted)
                time.sleep(0.05)
            worker_stop.set()
            th.join()
            done += int(w.counters.inserted)
            counter.value = done
            eng.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickers", type=int, default=500)
    ap.add_argument("--bars", type=int, default=120, help="measured cross-sections")
    ap.add_argument("--interval-ms", type=float, default=400.0, help="time between measured cross-sections")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the live process")
    ap.add_argument("--no-load", action="store_true", help="no ingest worker in a neighbour process")
    ap.add_argument("--neighbour-nice", type=int, action="append", default=None, metavar="N",
                    help="measure with the neighbour at this niceness (repeatable; default: the ingest worker's "
                         "default, then 0)")
    ap.add_argument("--settle-bars", type=int, default=3,
                    help="paced bars replayed after the warm-up and not measured (printed apart: the first "
                         "decisions, the neighbour's start)")
    ap.add_argument("--no-freeze", action="store_true",
                    help="do not freeze the loaded objects out of the collector's reach, as tftrade live does")
    ap.add_argument("--strategy", choices=("tft", "sma"), default="tft",
                    help="tft: forecasts + Black-Litterman; sma: a cheap strategy (the loop's own cost)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)
    from tftrade.backtest.market import from_frame
    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.features.dataset import WARMUP
    from tftrade.forecast.data import panel_from_bars
    from tftrade.forecast.tft.config import preset
    from tftrade.forecast.training import TrainConfig, fit

    t0 = time.perf_counter()
    mc = preset(args.preset)
    warm = WARMUP + mc.context
    days = max(2, -(-(warm + args.settle_bars + args.bars + 10) // 390) + 1)
    sm = generate_market(SyntheticConfig(n_tickers=args.tickers, days=days, seed=5))
    bars = sm.bars_frame()
    universe = bars[~bars["ticker"].str.startswith("^")]
    # the generator's GICS-like sectors: with one "Unknown" sector its 25 % cap would hold 25 % of the book
    # and every decision would also relax the beta floor (two LPs and a second solve)
    market = from_frame(universe, timeframe="1min", sectors={s.ticker: s.sector for s in sm.securities})
    trained = fit(panel_from_bars(universe, "1min"), mc, TrainConfig(max_epochs=1, max_samples_per_epoch=512))
    print(f"setup: {args.tickers} tickers, {market.n_times} bars, preset {args.preset} "
          f"(context {mc.context}, horizon {mc.horizon}); fitted in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    phases: list[int | None] = [None, 0] if args.neighbour_nice is None else list(args.neighbour_nice)
    for nice in ([-1] if args.no_load else phases):
        _measure(args, trained, market, warm, None if args.no_load else nice)


def _measure(args: argparse.Namespace, trained: object, market: object, warm: int, nice: int | None) -> None:
    """One measurement: a fresh bus and workers, the neighbour at niceness ``nice`` (``None``: the ingest worker's
    default; off with ``--no-load``)."""
    from tftrade.core.clock import SystemClock
    from tftrade.core.gc_tuning import IdleCollector, freeze_startup_objects
    from tftrade.live.brokers import make_broker
    from tftrade.live.predict_worker import PredictWorker
    from tftrade.live.predictor import TftPredictor
    from tftrade.live.priority import worker_niceness
    from tftrade.live.replay import replay_bars
    from tftrade.live.runner import LiveConfig, build_trade_worker, run_workers
    from tftrade.live.status import percentiles
    from tftrade.risk.gate import GateLimits, RiskGate
    from tftrade.strategy.forecast_strategy import ForecastStrategy
    from tftrade.strategy.sma import SmaCrossover
    from tftrade.stream.memory import InMemoryBus
    from tftrade.trading.config import TradingConfig

    ctx = mp.get_context("spawn")
    load_stop, loaded = ctx.Event(), ctx.Value("q", 0)
    neighbour = None
    if not args.no_load:
        neighbour = ctx.Process(target=_load, args=(load_stop, args.tickers, loaded, nice), daemon=True)
        neighbour.start()

    bus = InMemoryBus()
    idle_gc = IdleCollector()  # as tftrade live: the full collections deferred by the freeze run when idle
    horizon = trained.config.horizon  # type: ignore[attr-defined]
    cfg = LiveConfig(trading=TradingConfig(rebalance_every=1, warmup=warm), window=512, keep_latencies=True,
                     wait_predictions_s=10.0)
    stack = build_trade_worker(bus, market.tickers, market.sectors, "1min",  # type: ignore[attr-defined]
                               (lambda f: ForecastStrategy(f)) if args.strategy == "tft"  # type: ignore[arg-type]
                               else (lambda f: SmaCrossover(10, 30)),
                               make_broker("paper"), SystemClock(), config=cfg, gate=RiskGate(GateLimits()),
                               horizon=horizon, on_idle=idle_gc.collect_when_idle)
    pw = PredictWorker(bus, TftPredictor(trained), market.tickers, market.sectors, "1min",  # type: ignore
                       keep_latencies=True, on_idle=idle_gc.collect_when_idle)
    counters = stack.worker.counters
    first = market.rows(0, warm)  # type: ignore[attr-defined]
    settle = market.rows(warm, warm + args.settle_bars)  # type: ignore[attr-defined]
    start = warm + args.settle_bars
    paced = market.rows(start, min(market.n_times, start + args.bars))  # type: ignore[attr-defined]
    settled: dict[str, list[float]] = {}

    # where a slow bar's time went: the collector's pauses, the trade worker's CPU per step
    pauses: list[tuple[int, int, int]] = []  # (start ns, duration ns, generation), time.time_ns clock
    gc_start = [0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_start[0] = time.time_ns()
        else:
            pauses.append((gc_start[0], time.time_ns() - gc_start[0], info["generation"]))

    gc.callbacks.append(on_gc)
    step_spans: list[tuple[int, int, int]] = []  # (start ns, wall ns, this thread's CPU ns) of each loop step
    inner_step = stack.loop.step

    def timed_step(event: object) -> float:
        t, c = time.time_ns(), time.thread_time_ns()
        eq = inner_step(event)  # type: ignore[arg-type]
        step_spans.append((t, time.time_ns() - t, time.thread_time_ns() - c))
        return eq

    stack.loop.step = timed_step  # type: ignore[method-assign]
    predict_spans: list[int] = []  # start ns of each predict call
    inner_predict = pw.predictor.predict

    def timed_predict(frame: object, row: int) -> object:
        predict_spans.append(time.time_ns())
        return inner_predict(frame, row)  # type: ignore[arg-type]

    pw.predictor.predict = timed_predict  # type: ignore[method-assign,assignment]
    measured_from = [0]

    def source(stop: threading.Event) -> None:
        replay_bars(bus, first, stop=stop)
        # the last warm-up bar closes with the next; both workers must be through the warm-up backlog, or the
        # first measured bars queue behind it
        while (counters.steps < warm - 1 or pw.counters.cross_sections < warm - 1) and not stop.is_set():
            time.sleep(0.05)
        deadline = time.monotonic() + 120
        while neighbour is not None and loaded.value == 0 and time.monotonic() < deadline:
            time.sleep(0.1)  # measure only once the neighbour is storing bars
        kept = (counters.decision_latencies_ms, counters.order_latencies_ms, pw.counters.latencies_ms,
                pw.counters.assembly_ms, pw.counters.forecast_ms, pw.counters.forecast_cpu_ms, pw.counters.prepare_ms,
                step_spans, predict_spans)
        for x in kept:
            x.clear()
        if settle.n_times:  # paced like the measured ones, each done before the next (the replay waits)
            replay_bars(bus, settle, speed=60_000.0 / args.interval_ms, stop=stop)
            k = settle.n_times
            settled.update(prediction=pw.counters.latencies_ms[-k:], decision=counters.decision_latencies_ms[-k:],
                           order=list(counters.order_latencies_ms))
            for x in kept:
                x.clear()
        measured_from[0] = time.time_ns()
        replay_bars(bus, paced, speed=60_000.0 / args.interval_ms, stop=stop)

    if not args.no_freeze:
        freeze_startup_objects()  # as tftrade live does once loaded (LiveOptions.freeze_gc)
    t1 = time.perf_counter()
    run_workers([("trade", stack.worker.run), ("predict", pw.run)], threading.Event(), source=source)
    wall = time.perf_counter() - t1
    gc.callbacks.remove(on_gc)
    load_stop.set()
    if neighbour is not None:
        neighbour.join(30)
    # the last warm-up cross-section closes when the first measured bar arrives: keep the measured ones only
    n = paced.n_times
    pred = percentiles(pw.counters.latencies_ms[-n:])
    dec = percentiles(counters.decision_latencies_ms)
    order = percentiles(counters.order_latencies_ms)
    who = "off" if neighbour is None else (
        f"niceness {worker_niceness('ingest', nice)}"
        f"{' (the default of tftrade worker ingest)' if nice is None else ''}, {loaded.value:,} bars stored meanwhile")
    print(f"\nload average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores; "
          f"neighbour ingest worker: {who}")
    print(f"{paced.n_times} measured cross-sections of {args.tickers} bars, one every {args.interval_ms:.0f} ms "
          f"({wall:.1f} s); strategy {args.strategy}; torch threads {args.threads}")

    if settled:
        print(f"first {settle.n_times} paced bars after the warm-up, not measured: prediction "
              f"{', '.join(f'{x:.0f}' for x in settled['prediction'])} ms; decision "
              f"{', '.join(f'{x:.0f}' for x in settled['decision'])} ms; slowest order "
              f"{max(settled['order'], default=float('nan')):.0f} ms")

    def row(name: str, p: dict[str, float | int | None], note: str) -> None:
        print(f"{name:28s} {p['p50'] or float('nan'):9.1f} {p['p99'] or float('nan'):9.1f} {p['n']:5d}  {note}")

    print(f"{'latency from bar arrival':28s} {'p50 ms':>9s} {'p99 ms':>9s} {'n':>5s}  target")
    row("prediction published", pred, "p99 < 50 ms")
    row("  arrival → predictor", percentiles(pw.counters.assembly_ms[-n:]), "(bus, assembly)")
    row("  predictor", percentiles(pw.counters.forecast_ms[-n:]), "(features, network)")
    row("decision", dec, "")
    row("order at the broker", order, "p99 < 100 ms")
    row("idle: predictor prepares", percentiles(pw.counters.prepare_ms[-n:]),
        "(idle after publishing: the next window's encoder)")
    steps = step_spans[-n:]
    row("CPU: predictor per bar", percentiles(pw.counters.forecast_cpu_ms[-n:]), "(its thread's CPU time)")
    row("CPU: trade step per bar", percentiles([c / 1e6 for _, _, c in steps]), "(marks, stops, decision, orders)")
    seen = [p for p in pauses if p[0] >= measured_from[0]]
    by_gen = {g: [d / 1e6 for _, d, gg in seen if gg == g] for g in (0, 1, 2)}
    print("garbage collections while measured: " + ", ".join(
        f"gen {g}: {len(v)} ({sum(v):.1f} ms, longest {max(v, default=0.0):.1f} ms)" for g, v in by_gen.items()))
    arrivals = pw.counters.latencies_ms[-n:]
    asm, fc, fcpu = (x[-n:] for x in (pw.counters.assembly_ms, pw.counters.forecast_ms, pw.counters.forecast_cpu_ms))
    starts = predict_spans[-n:]
    if arrivals and len(asm) == len(arrivals) == len(starts):
        print("slowest predictions, ms: latency = arrival → predictor + predictor (its CPU); GC pauses inside")
        for k in sorted(range(len(arrivals)), key=lambda i: -arrivals[i])[:3]:
            lo = starts[k] - int(asm[k] * 1e6)
            hi = lo + int(arrivals[k] * 1e6)
            gc_in = sum(d for s0, d, _ in seen if lo <= s0 + d and s0 <= hi) / 1e6
            print(f"  bar {k}: {arrivals[k]:.1f} = {asm[k]:.1f} + {fc[k]:.1f} ({fcpu[k]:.1f}); {gc_in:.1f}")
    print(f"decisions {counters.decisions}, orders {counters.orders}, fills {counters.fills}, "
          f"prediction waits timed out {counters.prediction_waits_timed_out}")


if __name__ == "__main__":
    main()
