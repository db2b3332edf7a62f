"""What a backtest produces: equity, weights, trades, gate events, and the metrics of it all."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tftrade.analytics.metrics import metrics
from tftrade.backtest.config import BacktestConfig, periods_per_year
from tftrade.core.types import Float64Array

if TYPE_CHECKING:
    from tftrade.backtest.market import MarketData
    from tftrade.execution.costs import CostModel
    from tftrade.execution.manager import TradeRecord

#: Runs shorter than this many sessions show period returns, not annualised ones (GIPS: never
#: annualise less than a year). Override per call or with ``TearsheetData.annualise_min_sessions``.
ANNUALISE_MIN_SESSIONS = 252
#: The sector label of a ticker the securities master has no sector for.
UNKNOWN_SECTOR = "Unknown"
_COST_PARTS = ("spread", "impact", "sec_fee", "finra_taf", "commission")
#: ``trades.parquet`` cost columns, by cost part: they add up to the ``cost`` column.
TRADE_COST_COLUMNS = {"commission": "commission", "sec_fee": "sec_fee", "finra_taf": "finra_taf",
                      "spread": "spread_cost", "impact": "impact_cost"}


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
    cost_model: CostModel | None = None
    """The broker's cost model (splits each fill's costs into spread, impact, fees, commission)."""
    setup: dict[str, Any] = field(default_factory=dict)
    """The effective risk, cost and stop settings of the run (see ``TradingSetup.effective``)."""

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

    @property
    def risk_free_rate(self) -> float:
        """The annual risk-free rate of the run's settings (0 when not recorded)."""
        risk = self.setup.get("risk") or {}
        return float(risk.get("risk_free_rate", 0.0))

    def metrics(self) -> dict[str, float]:
        """:func:`tftrade.analytics.metrics` of the strategy against the benchmark (per-bar risk-free rate)."""
        rf = (1.0 + self.risk_free_rate) ** (1.0 / self.periods_per_year) - 1.0
        return metrics(self.returns(), self.benchmark_returns(), self.periods_per_year, weights=self.weights,
                       risk_free=rf)

    def benchmark_metrics(self) -> dict[str, float] | None:
        """The same metrics for the benchmark itself (``None`` without one)."""
        r = self.benchmark_returns()
        return None if r is None else metrics(r, None, self.periods_per_year)

    def trades_frame(self) -> pd.DataFrame:
        """Trades as a frame (``trades.parquet``): timestamp (UTC), ticker, action, quantity, price, pnl,
        order_id, rationale and what each paid, in dollars: ``commission`` (the broker's only),
        ``sec_fee``, ``finra_taf`` (regulatory fees, sells), ``spread_cost`` (half-spread),
        ``impact_cost`` (market impact) and ``cost``, their sum. The fill's charge (commission and
        fees together) is ``commission + sec_fee + finra_taf``."""
        cols = ["timestamp", "ticker", "action", "quantity", "price", "pnl", "order_id", "rationale"]
        rows = [(pd.Timestamp(r.timestamp_ns, unit="ns", tz="UTC"), r.ticker, r.action, r.quantity, r.price,
                 r.pnl, r.order_id, r.rationale) for r in self.trades]
        frame = pd.DataFrame(rows, columns=cols)
        parts = self.trade_costs()
        for name, col in TRADE_COST_COLUMNS.items():
            frame[col] = parts[name]
        frame["cost"] = parts["total"]
        return frame

    def trade_costs(self) -> dict[str, Float64Array]:
        """Per trade record, dollars paid: half-spread and impact (price against the bar's open), SEC fee,
        FINRA TAF and broker commission; ``total`` is their sum.

        Without a cost model (or the bar's open) the record's whole charge counts as commission.
        """
        n = len(self.trades)
        out = {name: np.zeros(n) for name in (*_COST_PARTS, "total")}
        if n == 0:
            return out
        m = self.market
        col = {t: i for i, t in enumerate(m.tickers)}
        rows = np.searchsorted(m.timestamps, [r.timestamp_ns for r in self.trades])
        for k, r in enumerate(self.trades):
            sign = 1.0 if r.action in ("BUY", "COVER") else -1.0
            qty = sign * float(r.exact_quantity if r.exact_quantity is not None else r.quantity)
            row = int(min(rows[k], m.n_times - 1))
            ref = float(m.open[row, col[r.ticker]]) if m.timestamps[row] == r.timestamp_ns else float("nan")
            if self.cost_model is None or not math.isfinite(ref):
                out["commission"][k] = r.commission
            else:
                c = self.cost_model.breakdown(ref, qty, r.price, r.commission, float("nan"))
                out["spread"][k], out["impact"][k], out["sec_fee"][k], out["finra_taf"][k], out["commission"][k] = (
                    c.spread, c.impact, c.sec_fee, c.finra_taf, c.commission)
        out["total"] = out["spread"] + out["impact"] + out["sec_fee"] + out["finra_taf"] + out["commission"]
        return out

    def costs(self) -> dict[str, float]:
        """Dollars paid by part (``fees`` = SEC fee + FINRA TAF), their sum, and the sum in bps of initial equity."""
        parts = self.trade_costs()
        out = {name: float(parts[name].sum()) for name in (*_COST_PARTS, "total")}
        out["fees"] = float((parts["sec_fee"] + parts["finra_taf"]).sum())
        out["total_bps_of_initial_equity"] = out["total"] / self.config.initial_cash * 1e4
        return out

    def gross_equity(self) -> Float64Array:
        """Equity with every cost paid so far added back (what the run would have made at zero cost)."""
        paid = np.zeros(self.market.n_times)
        total = self.trade_costs()["total"]
        if total.shape[0]:
            rows = np.searchsorted(self.market.timestamps, [r.timestamp_ns for r in self.trades])
            np.add.at(paid, np.minimum(rows, self.market.n_times - 1), total)
        out: Float64Array = self.equity + np.cumsum(paid)
        return out

    def exposure(self) -> dict[str, float]:
        """Average gross (sum |w|) and net (sum w) exposure and cash, as fractions of equity; turnover."""
        w = self.weights
        eq = np.where(self.equity > 0, self.equity, np.nan)
        traded = sum(float(r.price) * float(r.exact_quantity or r.quantity) for r in self.trades)
        return {
            "gross_mean": float(np.abs(w).sum(axis=1).mean()), "net_mean": float(w.sum(axis=1).mean()),
            "cash_mean": float(np.nanmean(self.cash / eq)), "cash_final": float(self.cash[-1] / eq[-1]),
            "turnover_per_bar": float(np.mean(0.5 * np.abs(np.diff(w, axis=0)).sum(axis=1))) if len(w) > 1 else 0.0,
            "traded_notional_x_mean_equity": traded / float(np.nanmean(eq)),
        }

    def stops(self) -> dict[str, float]:
        """Exits caused by stops and take-profits and the re-entries after them.

        Counts, realised P&L and traded notional / mean equity per kind, ``reentries`` (orders
        that re-opened a stopped-out name) with their turnover, and ``share_of_turnover``: the
        stop exits' and re-entries' traded notional as a fraction of all traded notional.
        """
        out: dict[str, float] = {}
        mean_eq = float(np.nanmean(self.equity))

        def notional(records: list[TradeRecord]) -> float:
            return sum(r.price * float(r.exact_quantity or r.quantity) for r in records)

        for kind in ("stop-loss", "take-profit"):
            hits = [r for r in self.trades if r.rationale.startswith(kind)]
            key = kind.replace("-", "_")
            out[f"{key}_exits"] = float(len(hits))
            out[f"{key}_pnl"] = float(sum(r.pnl or 0.0 for r in hits))
            out[f"{key}_turnover"] = notional(hits) / mean_eq
        back = [r for r in self.trades if r.rationale.startswith("re-entry")]
        out["reentries"] = float(len(back))
        out["reentry_turnover"] = notional(back) / mean_eq
        total = notional(list(self.trades)) / mean_eq
        caused = out["stop_loss_turnover"] + out["take_profit_turnover"] + out["reentry_turnover"]
        out["share_of_turnover"] = caused / total if total > 0 else 0.0
        return out

    def gate_frame(self) -> pd.DataFrame:
        """Gate events as a frame: timestamp (UTC), ticker, action, requested, approved, reasons."""
        rows = [(pd.Timestamp(e.timestamp_ns, unit="ns", tz="UTC"), e.ticker, e.action, e.requested, e.approved,
                 e.reasons) for e in self.gate_events]
        return pd.DataFrame(rows, columns=["timestamp", "ticker", "action", "requested", "approved", "reasons"])

    def unsectored(self) -> list[str]:
        """Tickers without a sector in the securities master (grouped as "Unknown" by the sector cap)."""
        return [t for t, s in zip(self.market.tickers, self.market.sectors, strict=True)
                if not s or s == UNKNOWN_SECTOR]

    def sessions(self) -> float:
        """Trading sessions the run spans (bars / bars per session)."""
        from tftrade.backtest.config import BARS_PER_DAY

        return self.market.n_times / BARS_PER_DAY[self.market.timeframe]

    def summary(self, annualise_min_sessions: int = ANNUALISE_MIN_SESSIONS) -> dict[str, object]:
        """Headline numbers for the CLI: total, gross and period returns, metrics vs benchmark, costs, counts."""
        gross = self.gross_equity()
        sessions = self.sessions()
        r = self.returns()
        return {
            "total_return": float(self.equity[-1] / self.config.initial_cash - 1.0),
            "gross_total_return": float(gross[-1] / self.config.initial_cash - 1.0),
            "sessions": sessions, "annualised": sessions >= annualise_min_sessions,
            "annualise_min_sessions": annualise_min_sessions,
            "per_session_return": float((self.equity[-1] / self.config.initial_cash) ** (1.0 / sessions) - 1.0),
            "per_bar_volatility": float(np.std(r, ddof=1)) if r.shape[0] > 1 else float("nan"),
            "risk_free_rate": self.risk_free_rate,
            "costs": self.costs(), "exposure": self.exposure(), "stops": self.stops(),
            "settings": self.setup,
            "start": str(pd.Timestamp(int(self.market.timestamps[0]), unit="ns", tz="UTC")),
            "end": str(pd.Timestamp(int(self.market.timestamps[-1]), unit="ns", tz="UTC")),
            "bars": self.market.n_times, "tickers": self.market.n_tickers,
            "initial_equity": self.config.initial_cash, "final_equity": float(self.equity[-1]),
            "benchmark_total_return": None if (b := self.benchmark_equity()) is None
            else float(b[-1] / self.config.initial_cash - 1.0),
            "decisions": self.decisions, "trades": len(self.trades), "gate_events": len(self.gate_events),
            "metrics": self.metrics(), "benchmark": self.market.benchmark_name or None,
            "benchmark_metrics": self.benchmark_metrics(), "unsectored_tickers": self.unsectored(),
            "notes": _sector_notes(self.unsectored()) + summarise_notes(self.notes),
        }


def _sector_notes(unsectored: list[str]) -> list[str]:
    if not unsectored:
        return []
    return [f"{len(unsectored)} ticker(s) have no sector in the securities master: {', '.join(unsectored)}. "
            f"The sector cap and the attribution treat them as one sector, '{UNKNOWN_SECTOR}'; load their sectors "
            "with `tftrade ingest securities FILE`."]


def summarise_notes(notes: tuple[str, ...] | list[str]) -> list[str]:
    """Group notes that differ only in their numbers: the first of each kind and how often it occurred.

    >>> summarise_notes(["VIX 40.1 above 35", "VIX 41.0 above 35", "beta 1.3 outside"])
    ['VIX 40.1 above 35 (and 1 more like it)', 'beta 1.3 outside']
    """
    groups: dict[str, list[str]] = {}
    for note in notes:
        groups.setdefault(re.sub(r"[-+]?\d+(\.\d+)?", "#", note), []).append(note)
    return [g[0] + (f" (and {len(g) - 1} more like it)" if len(g) > 1 else "") for g in groups.values()]


def json_safe(value: object) -> object:
    """``value`` with NaN and infinities replaced by ``None`` and numpy scalars by Python ones (strict JSON).

    >>> json_safe({"a": float("nan"), "b": [1.0, float("inf")], "c": np.float64(2.5)})
    {'a': None, 'b': [1.0, None], 'c': 2.5}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
