"""What a backtest produces: equity, weights, trades, gate events, and the metrics of it all."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tftrade.analytics.metrics import metrics
from tftrade.backtest.config import BacktestConfig, periods_per_year
from tftrade.core.types import Float64Array

if TYPE_CHECKING:
    from tftrade.backtest.market import MarketData
    from tftrade.execution.manager import TradeRecord


@dataclass(frozen=True, slots=True)
class GateEvent:
    """One order the risk gate resized or rejected."""

    timestamp_ns: int
    ticker: str
    action: str
    requested: float
    approved: float
    reasons: str


@dataclass(frozen=True)
class BacktestResult:
    """Per-step equity, cash, weights and beta, plus every trade and gate event."""

    market: MarketData
    equity: Float64Array
    cash: Float64Array
    weights: Float64Array
    beta: Float64Array
    trades: tuple[TradeRecord, ...]
    gate_events: tuple[GateEvent, ...]
    notes: tuple[str, ...]
    decisions: int
    config: BacktestConfig

    @property
    def periods_per_year(self) -> float:
        """Bars per year of the market's timeframe."""
        return periods_per_year(self.market.timeframe)

    def returns(self) -> Float64Array:
        """Per-step simple returns of equity (the first step against the initial cash)."""
        eq = np.concatenate([[self.config.initial_cash], self.equity])
        out: Float64Array = eq[1:] / eq[:-1] - 1.0
        return out

    def benchmark_returns(self) -> Float64Array | None:
        """Per-step returns of the benchmark (0 where unknown), or ``None`` without one."""
        b = self.market.benchmark
        if b is None:
            return None
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.concatenate([[0.0], b[1:] / b[:-1] - 1.0])
        out: Float64Array = np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)
        return out

    def benchmark_equity(self) -> Float64Array | None:
        """The benchmark scaled to start at the initial cash, or ``None``."""
        r = self.benchmark_returns()
        if r is None:
            return None
        out: Float64Array = np.asarray(self.config.initial_cash * np.cumprod(1.0 + r), dtype=np.float64)
        return out

    def metrics(self) -> dict[str, float]:
        """:func:`tftrade.analytics.metrics` of the strategy against the benchmark."""
        return metrics(self.returns(), self.benchmark_returns(), self.periods_per_year, weights=self.weights)

    def benchmark_metrics(self) -> dict[str, float] | None:
        """The same metrics for the benchmark itself (``None`` without one)."""
        r = self.benchmark_returns()
        return None if r is None else metrics(r, None, self.periods_per_year)

    def trades_frame(self) -> pd.DataFrame:
        """Trades as a frame: timestamp (UTC), ticker, action, quantity, price, pnl, commission, order_id, rationale."""
        cols = ["timestamp", "ticker", "action", "quantity", "price", "pnl", "commission", "order_id", "rationale"]
        rows = [(pd.Timestamp(r.timestamp_ns, unit="ns", tz="UTC"), r.ticker, r.action, r.quantity, r.price,
                 r.pnl, r.commission, r.order_id, r.rationale) for r in self.trades]
        return pd.DataFrame(rows, columns=cols)

    def gate_frame(self) -> pd.DataFrame:
        """Gate events as a frame: timestamp (UTC), ticker, action, requested, approved, reasons."""
        rows = [(pd.Timestamp(e.timestamp_ns, unit="ns", tz="UTC"), e.ticker, e.action, e.requested, e.approved,
                 e.reasons) for e in self.gate_events]
        return pd.DataFrame(rows, columns=["timestamp", "ticker", "action", "requested", "approved", "reasons"])

    def summary(self) -> dict[str, object]:
        """Headline numbers for the CLI: metrics vs benchmark, final equity, counts."""
        return {
            "start": str(pd.Timestamp(int(self.market.timestamps[0]), unit="ns", tz="UTC")),
            "end": str(pd.Timestamp(int(self.market.timestamps[-1]), unit="ns", tz="UTC")),
            "bars": self.market.n_times, "tickers": self.market.n_tickers,
            "initial_equity": self.config.initial_cash, "final_equity": float(self.equity[-1]),
            "total_return": float(self.equity[-1] / self.config.initial_cash - 1.0),
            "benchmark_total_return": None if (b := self.benchmark_equity()) is None
            else float(b[-1] / self.config.initial_cash - 1.0),
            "decisions": self.decisions, "trades": len(self.trades), "gate_events": len(self.gate_events),
            "metrics": self.metrics(), "benchmark": self.market.benchmark_name or None,
            "benchmark_metrics": self.benchmark_metrics(), "notes": summarise_notes(self.notes),
        }


def summarise_notes(notes: tuple[str, ...] | list[str]) -> list[str]:
    """Group notes that differ only in their numbers: the first of each kind and how often it occurred.

    >>> summarise_notes(["VIX 40.1 above 35", "VIX 41.0 above 35", "beta 1.3 outside"])
    ['VIX 40.1 above 35 (and 1 more like it)', 'beta 1.3 outside']
    """
    groups: dict[str, list[str]] = {}
    for note in notes:
        groups.setdefault(re.sub(r"[-+]?\d+(\.\d+)?", "#", note), []).append(note)
    return [g[0] + (f" (and {len(g) - 1} more like it)" if len(g) > 1 else "") for g in groups.values()]
