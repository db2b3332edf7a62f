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
figures are taken with a neighbour busy on the same cores. Warm-up bars (the model's
warm-up + context) are replayed first and not measured; then one cross-section every
``--interval-ms``.

    python benchmarks/live_latency.py [--tickers 500] [--bars 120] [--interval-ms 400] [--no-load]
                                      [--threads 1] [--preset default] [--strategy tft|sma]

The interval must exceed the time one bar takes end to end, or bars queue and the latencies
measure the queue: at 500 tickers the Black-Litterman decision (covariance, factor model,
posterior, QP over 500 names) dominates, so ``--strategy tft`` needs a longer interval.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time

import numpy as np


def _load(stop: mp.synchronize.Event, n_tickers: int, counter: mp.sharedctypes.Synchronized[int]) -> None:
    """The neighbour: an ingest worker storing bars from its own bus as fast as they come."""
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
    ap.add_argument("--strategy", choices=("tft", "sma"), default="tft",
                    help="tft: forecasts + Black-Litterman; sma: a cheap strategy (the loop's own cost)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)
    from tftrade.backtest.market import from_frame
    from tftrade.core.clock import SystemClock
    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.features.dataset import WARMUP
    from tftrade.forecast.data import panel_from_bars
    from tftrade.forecast.tft.config import preset
    from tftrade.forecast.training import TrainConfig, fit
    from tftrade.live.brokers import make_broker
    from tftrade.live.predict_worker import PredictWorker
    from tftrade.live.predictor import TftPredictor
    from tftrade.live.replay import replay_bars
    from tftrade.live.runner import LiveConfig, build_trade_worker, run_workers
    from tftrade.live.status import percentiles
    from tftrade.risk.gate import GateLimits, RiskGate
    from tftrade.strategy.forecast_strategy import ForecastStrategy
    from tftrade.strategy.sma import SmaCrossover
    from tftrade.stream.memory import InMemoryBus
    from tftrade.trading.config import TradingConfig

    t0 = time.perf_counter()
    mc = preset(args.preset)
    warm = WARMUP + mc.context
    days = max(2, -(-(warm + args.bars + 10) // 390) + 1)
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

    ctx = mp.get_context("spawn")
    load_stop, loaded = ctx.Event(), ctx.Value("q", 0)
    neighbour = None
    if not args.no_load:
        neighbour = ctx.Process(target=_load, args=(load_stop, args.tickers, loaded), daemon=True)
        neighbour.start()

    bus = InMemoryBus()
    cfg = LiveConfig(trading=TradingConfig(rebalance_every=1, warmup=warm), window=512, keep_latencies=True,
                     wait_predictions_s=10.0)
    stack = build_trade_worker(bus, market.tickers, market.sectors, "1min",
                               (lambda f: ForecastStrategy(f)) if args.strategy == "tft"  # type: ignore[arg-type]
                               else (lambda f: SmaCrossover(10, 30)),
                               make_broker("paper"), SystemClock(), config=cfg, gate=RiskGate(GateLimits()),
                               horizon=mc.horizon)
    pw = PredictWorker(bus, TftPredictor(trained), market.tickers, market.sectors, "1min", keep_latencies=True)
    counters = stack.worker.counters
    first = market.rows(0, warm)
    paced = market.rows(warm, min(market.n_times, warm + args.bars))

    def source(stop: threading.Event) -> None:
        replay_bars(bus, first, stop=stop)
        # the last warm-up bar closes with the next; both workers must be through the warm-up backlog, or the
        # first measured bars queue behind it
        while (counters.steps < warm - 1 or pw.counters.cross_sections < warm - 1) and not stop.is_set():
            time.sleep(0.05)
        deadline = time.monotonic() + 120
        while neighbour is not None and loaded.value == 0 and time.monotonic() < deadline:
            time.sleep(0.1)  # measure only once the neighbour is storing bars
        counters.decision_latencies_ms.clear()
        counters.order_latencies_ms.clear()
        pw.counters.latencies_ms.clear()
        pw.counters.assembly_ms.clear()
        pw.counters.forecast_ms.clear()
        pw.counters.prepare_ms.clear()
        replay_bars(bus, paced, speed=60_000.0 / args.interval_ms, stop=stop)

    t1 = time.perf_counter()
    run_workers([("trade", stack.worker.run), ("predict", pw.run)], threading.Event(), source=source)
    wall = time.perf_counter() - t1
    load_stop.set()
    if neighbour is not None:
        neighbour.join(30)
    # the last warm-up cross-section closes when the first measured bar arrives: keep the measured ones only
    n = paced.n_times
    pred = percentiles(pw.counters.latencies_ms[-n:])
    dec = percentiles(counters.decision_latencies_ms)
    order = percentiles(counters.order_latencies_ms)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores; "
          f"neighbour ingest worker: {'off' if neighbour is None else f'{loaded.value:,} bars stored meanwhile'}")
    print(f"{paced.n_times} measured cross-sections of {args.tickers} bars, one every {args.interval_ms:.0f} ms "
          f"({wall:.1f} s); strategy {args.strategy}; torch threads {args.threads}")
    print(f"{'latency from bar arrival':28s} {'p50 ms':>9s} {'p99 ms':>9s} {'n':>5s}  target")
    spans = (("  arrival → predictor", percentiles(pw.counters.assembly_ms[-n:]), "(bus, assembly)"),
             ("  predictor", percentiles(pw.counters.forecast_ms[-n:]), "(features, network)"))
    for name, p, target in (("prediction published", pred, "p99 < 50 ms"), *spans, ("decision", dec, ""),
                            ("order at the broker", order, "p99 < 100 ms")):
        print(f"{name:28s} {p['p50'] or float('nan'):9.1f} {p['p99'] or float('nan'):9.1f} {p['n']:5d}  {target}")
    prep = percentiles(pw.counters.prepare_ms[-n:])
    print(f"{'idle: predictor prepares':28s} {prep['p50'] or float('nan'):9.1f} {prep['p99'] or float('nan'):9.1f} "
          f"{prep['n']:5d}  (idle after publishing: the next window's encoder)")
    print(f"decisions {counters.decisions}, orders {counters.orders}, fills {counters.fills}, "
          f"prediction waits timed out {counters.prediction_waits_timed_out}")


if __name__ == "__main__":
    main()
