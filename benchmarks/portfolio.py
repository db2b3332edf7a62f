"""Benchmark: Black-Litterman + constrained optimisation for 500 assets (prints, never asserts).

Uses the last 252 trading days of ``sp500_daily`` (sectors from the 2018 constituents,
betas against ^GSPC) when ``TFTRADE_SHARED_DATA`` (default ``../shared/data``) is present,
otherwise a synthetic 500-asset sector-factor universe. Each timed iteration builds views
from fresh random quantile forecasts, computes the BL posterior and solves the constrained
optimiser (5 %/stock, 25 %/sector, beta 0.8-1.2, turnover cost). The covariance is fixed
across iterations (as within a trading day), so the factor risk model is built once;
``--rolling`` instead re-estimates it every run from a window moved by one period (Ledoit-Wolf,
factor model, BL and the solve: what the live strategy does on every bar).

    python benchmarks/portfolio.py [--iterations 50] [--assets 500] [--risk-model auto] [--synthetic] [--new-cov]
                                   [--rolling]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small dense algebra: threads only add contention

import argparse
import time

import numpy as np
import pandas as pd

from tftrade.core.config import shared_data_dir
from tftrade.portfolio import (
    OptimizerConfig,
    bl_posterior,
    ledoit_wolf,
    market_implied_prior,
    optimize,
    views_from_forecasts,
)


def real_universe(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    data = shared_data_dir()
    prices_file = data / "sp500_daily" / "all_stocks_5yr.csv.gz"
    sectors_file = data / "sp500_daily" / "constituents_2018-04-02.csv"
    index_file = data / "index" / "arch_sp500_GSPC_daily.csv"
    if not all(p.exists() for p in (prices_file, sectors_file, index_file)):
        return None
    raw = pd.read_csv(prices_file, usecols=["date", "close", "Name"])
    closes = raw.pivot(index="date", columns="Name", values="close")
    closes.index = pd.to_datetime(closes.index)
    rets = closes.pct_change().iloc[-252:].dropna(axis=1)
    sectors = pd.read_csv(sectors_file).set_index("Symbol")["Sector"]
    rets = rets[[c for c in rets.columns if c in sectors.index]].iloc[:, :n]
    spx = pd.read_csv(index_file)
    spx.index = pd.to_datetime(spx["Date"], format="%m/%d/%Y")
    mkt = spx["Adj Close"].pct_change().reindex(rets.index).fillna(0.0).to_numpy()
    x = rets.to_numpy()
    betas = ((x - x.mean(0)) * (mkt - mkt.mean())[:, None]).mean(0) / mkt.var()
    return x, sectors.loc[rets.columns].to_numpy(), betas, f"sp500_daily, last 252 days, {x.shape[1]} tickers"


def synthetic_universe(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    rng = np.random.default_rng(seed)
    sectors = rng.integers(0, 11, n)
    mkt, sec = rng.normal(0.0004, 0.01, 252), rng.normal(0, 0.006, (252, 11))
    betas = rng.uniform(0.5, 1.5, n)
    x = mkt[:, None] * betas + sec[:, sectors] + rng.normal(0, 0.015, (252, n))
    return x, sectors.astype(str), betas, f"synthetic, 252 days, {n} assets"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--assets", type=int, default=500)
    ap.add_argument("--risk-model", choices=["auto", "full", "factor"], default="auto")
    ap.add_argument("--synthetic", action="store_true", help="ignore shared data")
    ap.add_argument("--new-cov", action="store_true",
                    help="rescale the covariance every run (forces a new factor model each time: worst case)")
    ap.add_argument("--rolling", action="store_true",
                    help="Ledoit-Wolf on a window moved by one period every run (the live per-bar cost)")
    args = ap.parse_args()
    uni = None if args.synthetic else real_universe(args.assets)
    x, sectors, betas, label = uni or synthetic_universe(args.assets)
    n = x.shape[1]
    t0 = time.perf_counter()
    cov = ledoit_wolf(x).cov
    lw_ms = (time.perf_counter() - t0) * 1e3
    prior = market_implied_prior(cov, 2.5)
    cfg = OptimizerConfig(risk_model=args.risk_model)
    rng = np.random.default_rng(1)
    prev, times, cpu, relaxed = np.full(n, 1.0 / n), [], [], 0
    stages: dict[str, list[float]] = {"ledoit_wolf": [], "views": [], "bl_posterior": [], "optimize": []}
    window = x.shape[0] - args.iterations - 1 if args.rolling else x.shape[0]
    if window < 60:
        raise SystemExit(f"--rolling needs at least {args.iterations + 61} periods of returns, got {x.shape[0]}")
    for i in range(args.iterations + 1):
        p50 = rng.normal(0.0, 0.002, n)
        spread = rng.uniform(0.01, 0.04, n)
        t, c = time.perf_counter(), time.process_time()
        if args.rolling:
            cov = ledoit_wolf(x[i:i + window]).cov
            prior = market_implied_prior(cov, 2.5)
        c0 = time.process_time()
        views = views_from_forecasts(p50, p50 - spread / 2, p50 + spread / 2, rng.uniform(0, 1, n))
        c1 = time.process_time()
        run_cov = cov * (1.0 + 1e-9 * i) if args.new_cov else cov
        post = bl_posterior(run_cov, prior, views.P, views.Q, views.omega)
        c2 = time.process_time()
        res = optimize(post.mean, run_cov, sectors=sectors, betas=betas, prev_weights=prev, config=cfg)
        if i:  # the first call builds the solver for this shape (and the factor model)
            times.append((time.perf_counter() - t) * 1e3)
            cpu.append((time.process_time() - c) * 1e3)
            for name, span in zip(stages, (c0 - c, c1 - c0, c2 - c1, time.process_time() - c2), strict=True):
                stages[name].append(span * 1e3)
        prev, relaxed = res.weights, relaxed + len(res.relaxations)
    ms = np.array(times)
    print(f"universe: {label}; risk_model={args.risk_model}; new covariance every run: {args.new_cov}; "
          f"rolling Ledoit-Wolf every run: {args.rolling} ({window} periods); "
          f"Ledoit-Wolf once: {lw_ms:.1f} ms")
    print(f"BL + optimise, {n} assets, {len(ms)} runs: p50 {np.percentile(ms, 50):.1f} ms, "
          f"p95 {np.percentile(ms, 95):.1f} ms, max {ms.max():.1f} ms wall (target p95 < 50 ms; spec < 200 ms)")
    print(f"  process CPU time per run: p50 {np.percentile(cpu, 50):.1f} ms, p95 {np.percentile(cpu, 95):.1f} ms "
          "(excludes time spent waiting for a core on a loaded machine)")
    print("  CPU p50 by stage: " + ", ".join(f"{k} {np.percentile(v, 50):.1f} ms" for k, v in stages.items()))
    print(f"last solution: {np.count_nonzero(res.weights > 1e-6)} names, max weight {res.weights.max():.4f}, "
          f"beta {res.beta:.3f}, turnover {res.turnover:.3f}, relaxations over all runs: {relaxed}")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")


if __name__ == "__main__":
    main()
