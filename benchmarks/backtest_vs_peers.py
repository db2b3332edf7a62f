"""Benchmark: SMA 10/30 crossover on sp500_daily in tftrade vs vectorbt and backtrader (prints, never asserts).

The same strategy in three engines, on the same validated bars (``read_bar_file`` +
``validate_bars``, exactly what ``tftrade ingest csv`` would store: 619,017 bars of 505 tickers):

* at the close of bar ``t`` a ticker is "in" when its 10-bar mean close is above its 30-bar
  mean (a window with a missing bar has no mean: "out"); on a change the strategy targets
  ``1/n`` of equity (``n`` = 505 tickers) on an entry and 0 on an exit;
* target shares = weight x equity at the close of ``t`` / close of ``t``; the order fills at
  the **open of ``t + 1``**; no costs, fractional shares, one shared cash account of 1,000,000.

Engines:

* **tftrade**: the event-driven engine (``Backtest`` with ``SmaCrossover``, the paper broker,
  the order manager with FIFO lots and trade records), one cross-section per step.
* **vectorbt**: ``vbt.MA`` for the averages, then ``Portfolio.from_orders`` with
  ``size_type="targetpercent"`` (``1/n`` on an entry, 0 on an exit, NaN otherwise), shifted one
  bar so the order fills at ``price=open`` of ``t + 1`` while ``val_price`` is the close of ``t``
  (so the target is sized on equity at the close, as in tftrade), ``cash_sharing=True``,
  ``group_by=True``, ``call_seq="auto"`` (sells first), ``update_value=False``.
* **backtrader**: one ``PandasData`` feed per ticker, ``bt.ind.SMA`` 10/30 per feed, and
  ``order_target_percent`` at the close (market order, filled at the next open; cheat-on-open
  off), fractional sizes via a ``CommissionInfo`` whose ``getsize`` does not round.

Known differences of semantics (printed with the results):

* cash: tftrade's paper broker is a margin account (cash may dip below 0 when opens gap above
  the closes the targets were sized on); vectorbt shrinks such a buy to the cash left;
  backtrader rejects it (``Margin``). With ``--weight 0.98`` none of them binds.
* a missing bar: tftrade/vectorbt treat a window with a gap as "out"; backtrader's SMA runs
  over each feed's own bars (72 interior gaps in the data).
* vectorbt's rolling mean is a running sum, tftrade's a fresh ``mean``: crossovers at a tie
  may differ in the last bit (counted and printed).

bars/s = real bars (619,017) / wall seconds of the run (best of ``--repeat``; vectorbt warm,
i.e. after one call that compiles its numba kernels); "cpu bars/s" uses the process CPU time
instead, which a loaded shared machine disturbs less. Loading is timed separately.

    python benchmarks/backtest_vs_peers.py [--repeat 3] [--peers vectorbt,backtrader] [--bt-tickers N]
                                           [--weight W] [--cash 1e6]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tftrade.backtest import Backtest, BacktestConfig, MarketData, from_frame
from tftrade.core.config import shared_data_dir
from tftrade.data.tabular import read_bar_file
from tftrade.data.validation import validate_bars
from tftrade.execution.costs import CostModel
from tftrade.strategy.sma import SmaCrossover

FAST, SLOW = 10, 30



def load_frame(path: Path) -> pd.DataFrame:
    """The file as the store would hold it: validated rows, prices back from integer ticks."""
    bar_file = read_bar_file(path)
    good = validate_bars(bar_file.frame, bar_file.timeframe).good
    prices = {c: good[c].to_numpy(np.int64) / 1e4 for c in ("open", "high", "low", "close")}
    return pd.DataFrame({"ticker": good["ticker"], "window_start": good["window_start"], **prices,
                         "volume": good["volume"].to_numpy(np.float64)})


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], list[float], Any]:
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return walls, cpus, out


# -- tftrade ------------------------------------------------------------------------------------
def run_ours(market: MarketData, cash: float, weight: float | None, repeat: int) -> dict[str, Any]:
    def once() -> Any:
        bt = Backtest(market, SmaCrossover(FAST, SLOW, weight=weight),
                      config=BacktestConfig(stop_loss=None, take_profit=None, fractional_shares=True,
                                            initial_cash=cash),
                      costs=CostModel.none(), gate=None)
        return bt, bt.run()

    walls, cpus, (bt, res) = _timed(once, repeat)
    return {"walls": walls, "cpus": cpus, "final": float(res.equity[-1]), "orders": len(bt.broker.fills),
            "records": len(res.trades), "min_cash": float(np.min(res.cash)),
            "realised": bt.manager.lots.realised_total}


def our_signals(market: MarketData) -> np.ndarray:
    """+1 entry / -1 exit / 0 per (t, ticker) exactly as SmaCrossover + the engine act on them."""
    close = market.close
    t_n, n = close.shape
    out = np.zeros((t_n, n), dtype=np.int8)
    state = np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        for t in range(SLOW - 1, t_n):
            window = close[t + 1 - SLOW: t + 1]
            now = window[-FAST:].mean(axis=0) > window.mean(axis=0)
            changed = (now != state) & ~np.isnan(close[t])
            out[t, changed & now] = 1
            out[t, changed & ~now] = -1
            state = now
    return out


# -- vectorbt -----------------------------------------------------------------------------------
def run_vectorbt(market: MarketData, cash: float, weight: float, repeat: int) -> dict[str, Any]:
    import vectorbt as vbt

    index = pd.to_datetime(market.timestamps, utc=True)
    close = pd.DataFrame(market.close, index=index, columns=list(market.tickers))
    open_ = pd.DataFrame(market.open, index=index, columns=list(market.tickers))

    def signals() -> np.ndarray:
        fast = vbt.MA.run(close, FAST).ma.to_numpy()
        slow = vbt.MA.run(close, SLOW).ma.to_numpy()
        now = fast > slow
        prev = np.vstack([np.zeros((1, now.shape[1]), dtype=bool), now[:-1]])
        changed = (now != prev) & ~np.isnan(market.close)
        return np.where(changed, np.where(now, 1, -1), 0).astype(np.int8)

    def portfolio(sig: np.ndarray) -> Any:
        size = np.where(sig == 1, weight, np.where(sig == -1, 0.0, np.nan))
        size = np.vstack([np.full((1, size.shape[1]), np.nan), size[:-1]])  # decided at t, sent at t + 1
        size[np.isnan(market.open)] = np.nan  # no bar at t + 1: the order cannot fill there
        val_price = np.vstack([np.full((1, size.shape[1]), np.nan), close.ffill().to_numpy()[:-1]])
        return vbt.Portfolio.from_orders(
            close.ffill(), size=pd.DataFrame(size, index=index, columns=close.columns), size_type="targetpercent",
            price=open_.fillna(close.ffill()), val_price=val_price, init_cash=cash, fees=0.0,
            cash_sharing=True, group_by=True, call_seq="auto", update_value=False, freq="1D",
        )

    def once() -> Any:
        return portfolio(signals())

    cold = time.perf_counter()
    once()
    cold = time.perf_counter() - cold
    walls, cpus, pf = _timed(once, repeat)
    sig = signals()
    return {"walls": walls, "cpus": cpus, "cold": cold, "final": float(pf.final_value()),
            "orders": int(pf.orders.count().sum()), "signals": sig,
            "min_cash": float(np.min(pf.cash().to_numpy()))}


def run_vectorbt_with(market: MarketData, sig: np.ndarray, cash: float, weight: float) -> float:
    """vectorbt's portfolio on tftrade's exact signals (to separate signal ties from fill semantics)."""
    import vectorbt as vbt

    index = pd.to_datetime(market.timestamps, utc=True)
    close = pd.DataFrame(market.close, index=index, columns=list(market.tickers))
    size = np.where(sig == 1, weight, np.where(sig == -1, 0.0, np.nan))
    size = np.vstack([np.full((1, size.shape[1]), np.nan), size[:-1]])
    size[np.isnan(market.open)] = np.nan
    val_price = np.vstack([np.full((1, size.shape[1]), np.nan), close.ffill().to_numpy()[:-1]])
    pf = vbt.Portfolio.from_orders(
        close.ffill(), size=size, size_type="targetpercent",
        price=pd.DataFrame(market.open, index=index, columns=close.columns).fillna(close.ffill()),
        val_price=val_price, init_cash=cash, fees=0.0, cash_sharing=True, group_by=True, call_seq="auto",
        update_value=False, freq="1D")
    return float(pf.final_value())


# -- backtrader ---------------------------------------------------------------------------------
def run_backtrader(frame: pd.DataFrame, tickers: list[str], cash: float, weight: float) -> dict[str, Any]:
    import backtrader as bt

    class Fractional(bt.CommInfoBase):  # type: ignore[misc]
        params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_FIXED), ("commission", 0.0))

        def getsize(self, price: float, cash: float) -> float:
            return float(cash / price)

    class Sma(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.fast = [bt.ind.SMA(d.close, period=FAST) for d in self.datas]
            self.slow = [bt.ind.SMA(d.close, period=SLOW) for d in self.datas]
            self.state = [False] * len(self.datas)
            self.margin = 0
            self.completed = 0

        def prenext(self) -> None:  # feeds listed later must not hold the others back
            self.next()

        def next(self) -> None:
            today = self.datetime.date(0)
            exits, entries = [], []
            for i, d in enumerate(self.datas):
                if len(d) < SLOW or d.datetime.date(0) != today:
                    continue
                now = self.fast[i][0] > self.slow[i][0]
                if now != self.state[i]:
                    self.state[i] = now
                    (entries if now else exits).append(d)
            for d in exits:  # sells first, as tftrade and vectorbt's call_seq="auto"
                self.order_target_percent(d, target=0.0)
            for d in entries:
                self.order_target_percent(d, target=weight)

        def notify_order(self, order: Any) -> None:
            if order.status == order.Margin:
                self.margin += 1
            elif order.status == order.Completed:
                self.completed += 1

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(cash)
    cerebro.broker.addcommissioninfo(Fractional())
    groups = dict(tuple(frame.groupby("ticker", sort=True)))
    for t in tickers:
        g = groups[t]
        feed = pd.DataFrame({c: g[c].to_numpy() for c in ("open", "high", "low", "close", "volume")},
                            index=pd.DatetimeIndex(g["window_start"]).tz_localize(None))
        cerebro.adddata(bt.feeds.PandasData(dataname=feed.sort_index(), openinterest=None), name=t)
    cerebro.addstrategy(Sma)
    w, c = time.perf_counter(), time.process_time()
    (strat,) = cerebro.run(runonce=False, preload=True)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    return {"walls": [wall], "cpus": [cpu], "final": float(cerebro.broker.getvalue()), "orders": strat.completed,
            "margin": strat.margin}


# -- report -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peers", default="vectorbt,backtrader")
    ap.add_argument("--bt-tickers", type=int, default=0, help="backtrader on the first N tickers (0 = all)")
    ap.add_argument("--weight", type=float, default=0.0, help="weight per entry (default 1/n)")
    ap.add_argument("--cash", type=float, default=1_000_000.0)
    args = ap.parse_args(argv)
    path = shared_data_dir() / "sp500_daily" / "all_stocks_5yr.csv.gz"
    if not path.exists():
        sys.exit(f"{path} not found (set TFTRADE_SHARED_DATA)")

    t0 = time.perf_counter()
    frame = load_frame(path)
    market = from_frame(frame, timeframe="1day")
    load_s = time.perf_counter() - t0
    bars = int(np.isfinite(market.close).sum())
    n = market.n_tickers
    weight = args.weight or 1.0 / n
    print(f"sp500_daily: {bars:,} bars, {n} tickers x {market.n_times} sessions "
          f"(loaded, validated and pivoted in {load_s:.1f} s); SMA {FAST}/{SLOW}, weight {weight:.6g}, "
          f"cash {args.cash:,.0f}, no costs, fill at next open")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"on {os.cpu_count()} cores\n")

    rows: dict[str, dict[str, Any]] = {}
    rows["tftrade"] = run_ours(market, args.cash, weight if args.weight else None, args.repeat)
    peers = [p for p in args.peers.split(",") if p]
    if "vectorbt" in peers:
        try:
            rows["vectorbt"] = run_vectorbt(market, args.cash, weight, args.repeat)
        except ImportError as e:
            print(f"vectorbt not installed ({e}); pip install vectorbt==1.2.0")
    if "backtrader" in peers:
        try:
            names = list(market.tickers[: args.bt_tickers] if args.bt_tickers else market.tickers)
            bt_bars = int(np.isfinite(market.close[:, : len(names)]).sum())
            rows["backtrader"] = run_backtrader(frame[frame["ticker"].isin(names)], names, args.cash,
                                                weight)
            rows["backtrader"]["bars"] = bt_bars
        except ImportError as e:
            print(f"backtrader not installed ({e}); pip install backtrader==1.9.78.123")

    vbt_rate = vbt_cpu_rate = None
    if "vectorbt" in rows:
        vbt_rate = bars / min(rows["vectorbt"]["walls"])
        vbt_cpu_rate = bars / min(rows["vectorbt"]["cpus"])
    print(f"{'engine':11s} {'wall s':>8s} {'(median)':>9s} {'cpu s':>7s} {'bars/s':>11s} {'vs vbt':>7s} "
          f"{'cpu bars/s':>11s} {'vs vbt':>7s} {'final value':>16s} {'orders':>7s}")
    for name, r in rows.items():
        b = r.get("bars", bars)
        best, cpu = min(r["walls"]), min(r["cpus"])
        rate, cpu_rate = b / best, b / cpu
        ratio = f"{rate / vbt_rate:6.2f}x" if vbt_rate else "   n/a"
        cpu_ratio = f"{cpu_rate / vbt_cpu_rate:6.2f}x" if vbt_cpu_rate else "   n/a"
        print(f"{name:11s} {best:8.3f} {statistics.median(r['walls']):9.3f} {cpu:7.3f} "
              f"{rate:11,.0f} {ratio:>7s} {cpu_rate:11,.0f} {cpu_ratio:>7s} {r['final']:16,.2f} {r['orders']:7,d}"
              + (f"   ({b:,} bars)" if b != bars else ""))
    print("(bars/s from the best wall time; cpu bars/s from the best process CPU time, steadier under load)")
    ours = rows["tftrade"]
    print(f"\ntftrade: {ours['records']:,} trade records (FIFO lots), realised P&L {ours['realised']:,.2f}, "
          f"lowest cash {ours['min_cash']:,.2f}")
    if "vectorbt" in rows:
        v = rows["vectorbt"]
        exact = our_signals(market)
        differ = int((exact != v["signals"]).sum())
        print(f"vectorbt: first call (numba compile) {v['cold']:.2f} s; lowest cash {v['min_cash']:,.2f}; "
              f"signals differing from tftrade's: {differ} of {exact.size:,}")
        same_signals = run_vectorbt_with(market, exact, args.cash, weight)
        gap = v["final"] - ours["final"]
        print(f"final value vectorbt - tftrade = {gap:,.2f} ({gap / ours['final']:+.2e}); vectorbt on tftrade's "
              f"exact signals: {same_signals:,.2f} ({(same_signals - ours['final']) / ours['final']:+.2e})")
        if ours["min_cash"] < 0:
            print("  tftrade's cash went below 0 (margin account): vectorbt shrinks those buys to the cash left; "
                  "--weight 0.98/n-ish removes the difference")
    if "backtrader" in rows:
        b = rows["backtrader"]
        print(f"backtrader: {b['margin']} buys rejected for cash (Margin); its SMA skips missing bars instead "
              f"of treating a gap as 'out'")


if __name__ == "__main__":
    main()
