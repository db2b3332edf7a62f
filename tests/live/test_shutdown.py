"""Stopping the trade worker mid-stream: what was processed is acked, the rest comes back after a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from tftrade.backtest import MarketData
from tftrade.core.clock import SimulatedClock
from tftrade.live.brokers import make_broker
from tftrade.live.replay import replay_bars
from tftrade.live.runner import LiveConfig, build_trade_worker
from tftrade.strategy import AccountState, MarketView, Targets
from tftrade.stream.bus import Bus
from tftrade.trading import TradingConfig

MIN = 60_000_000_000
ROOT = Path(__file__).resolve().parents[2]


def _market(t: int = 40, n: int = 3) -> MarketData:
    close = 100 + np.cumsum(np.ones((t, n)), axis=0)
    return MarketData(np.arange(t, dtype=np.int64) * MIN, tuple(f"T{i}" for i in range(n)), ("S",) * n,
                      close, close + 1, close - 1, close, np.full((t, n), 1e6), timeframe="1min")


class StopAt:
    """Equal weights; sets ``stop`` when asked at bar ``at`` (a SIGINT arriving mid-run)."""

    def __init__(self, stop: threading.Event, at: int) -> None:
        self.stop, self.at, self.seen = stop, at, []

    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        self.seen.append(view.now_ns)
        if len(self.seen) == self.at:
            self.stop.set()
        return Targets(np.full(len(view.tickers), 0.1))


def _worker(bus: Bus, m: MarketData, strategy: StopAt, consumer: str):  # type: ignore[no-untyped-def]
    return build_trade_worker(bus, m.tickers, m.sectors, "1min", lambda _: strategy, make_broker("paper"),
                              SimulatedClock(), config=LiveConfig(trading=TradingConfig(rebalance_every=1)),
                              gate=None, group="trade-" + consumer.split("/")[0], consumer=consumer)


def test_a_stopped_worker_acks_only_what_it_processed_and_a_restart_resumes(bus: Bus) -> None:
    m = _market()
    replay_bars(bus, m)
    group = uuid.uuid4().hex[:8]
    stop = threading.Event()
    first = StopAt(stop, at=10)
    w1 = _worker(bus, m, first, f"{group}/c1")
    w1.worker.run(stop)
    done = w1.worker.counters.steps
    assert done >= 10 and done < m.n_times
    # read in one batch, so every bar not stepped is still pending (unacked); a packed bus counts entries
    per_entry = getattr(bus, "_pack", 1)
    assert bus.pending("market_data", "trade-" + group) == (m.n_times - done) * m.n_tickers // per_entry
    # every bar of a stepped cross-section is acked; nothing else is
    assert w1.worker.bars.acked == done * m.n_tickers
    # a restart (same consumer) gets its pending bars back first and finishes the stream
    end = threading.Event()
    end.set()
    second = StopAt(threading.Event(), at=10_000)
    w2 = _worker(bus, m, second, f"{group}/c1")
    w2.worker.run(threading.Event(), end)
    assert first.seen + second.seen == m.timestamps.tolist()  # every bar decided once, in order
    assert bus.pending("market_data", "trade-" + group) == 0


def test_sigint_stops_tftrade_live_cleanly_with_a_summary(tmp_path: Path) -> None:
    env = {**os.environ, "TFTRADE_HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    cli = [sys.executable, "-m", "tftrade.cli"] if (ROOT / "src/tftrade/cli/__main__.py").exists() else \
        [sys.executable, "-c", "from tftrade.cli import main; main()"]
    subprocess.run([*cli, "db", "init"], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "ingest", "synthetic", "--tickers", "4", "--days", "1", "--json"], env=env, check=True,
                   capture_output=True)
    proc = subprocess.Popen([*cli, "live", "--strategy", "sma", "--speed", "600", "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    started = proc.stdout.readline()
    assert json.loads(started)["event"] == "start"
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["event"] == "summary" and 0 < summary["steps"] < 390 and summary["in_sync"]
    assert "SIGINT: stopping" in err
