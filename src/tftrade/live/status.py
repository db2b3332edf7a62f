"""What a live run shows: one JSON line per event (``--json``) or a rich status view on a terminal."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np

from tftrade.backtest.result import json_safe
from tftrade.live.trade_worker import TradeCounters


def json_lines(out: TextIO | None = None) -> Callable[[dict[str, object]], None]:
    """An event sink writing one JSON document per line (thread-safe) to ``out`` (default: stdout now); strict
    JSON: NaN and infinities are written as ``null`` (:func:`~tftrade.backtest.result.json_safe`)."""
    lock = threading.Lock()
    out = out or sys.stdout

    def write(event: dict[str, object]) -> None:
        line = json.dumps(json_safe({"ts_ns": time.time_ns(), **event}), default=_plain, allow_nan=False)
        with lock:
            out.write(line + "\n")
            out.flush()
    return write


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """p50 and p99 of ``values`` (None when empty)."""
    if not values:
        return {"p50": None, "p99": None, "n": 0}
    a = np.asarray(values)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p99": round(float(np.percentile(a, 99)), 3),
            "n": len(values)}


def status_table(title: str, counters: TradeCounters, positions: dict[str, float], initial_cash: float,
                 prediction_ms: float | None) -> Any:
    """A rich renderable of the live state: P&L, latencies, feed lag, counters and positions."""
    from rich.table import Table

    t = Table(title=title, show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    pnl = counters.equity - initial_cash if np.isfinite(counters.equity) else float("nan")
    rows = [("equity", f"{counters.equity:,.2f}"), ("P&L", f"{pnl:+,.2f}"),
            ("bars / steps / decisions", f"{counters.bars} / {counters.steps} / {counters.decisions}"),
            ("orders / fills", f"{counters.orders} / {counters.fills}"),
            ("last prediction latency", "-" if prediction_ms is None else f"{prediction_ms:.1f} ms"),
            ("bar → decision / → order", f"{counters.last_decision_ms:.1f} / {counters.last_order_ms:.1f} ms"),
            ("feed lag", f"{counters.feed_lag_ms:.1f} ms"), ("late bars", str(counters.late))]
    for k, v in rows:
        t.add_row(k, v)
    for ticker, qty in sorted(positions.items(), key=lambda kv: -abs(kv[1]))[:10]:
        t.add_row(f"  {ticker}", f"{qty:,.0f}")
    return t
