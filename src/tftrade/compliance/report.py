"""The compliance report of a period (``tftrade compliance report --period 2026Q1``).

From a saved backtest run (or a live account's run saved the same way) and the audit
chain: linked Brinson attribution by month (or week, for a one-month period) against an
equal-weighted universe with cash as a sector, selection vs timing per sub-period, the
risk limits' usage and breaches, the gate's resizes and rejections, VaR, drawdown,
turnover, and the audit chain's verification and head hash. One self-contained HTML file.
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tftrade.analytics.attribution import brinson
from tftrade.analytics.errors import AnalyticsError
from tftrade.analytics.metrics import max_drawdown, turnover
from tftrade.backtest.runs import SavedRun
from tftrade.compliance.attribution import LinkedBrinson, TimingSplit, link_brinson, selection_timing, weights_with_cash
from tftrade.compliance.audit_chain import VerifyReport
from tftrade.compliance.errors import ComplianceError, TaxLotError
from tftrade.compliance.ledger import build_ledger
from tftrade.compliance.tax_alpha import period_gains, tax_alpha_summary, transactions_from_trades
from tftrade.core.types import Float64Array
from tftrade.risk.gate import GateLimits
from tftrade.risk.var import historical_var


def parse_period(period: str) -> tuple[datetime, datetime, str]:
    """``2026Q1``, ``2026`` or ``2026-03`` as ``[start, end)`` in UTC and the sub-period unit.

    >>> [d.isoformat() for d in parse_period("2026Q2")[:2]]
    ['2026-04-01T00:00:00+00:00', '2026-07-01T00:00:00+00:00']
    """
    text = period.strip().upper()
    if m := re.fullmatch(r"(\d{4})Q([1-4])", text):
        y, q = int(m[1]), int(m[2])
        start = datetime(y, 3 * q - 2, 1, tzinfo=UTC)
        end = datetime(y + (q == 4), 1 if q == 4 else 3 * q + 1, 1, tzinfo=UTC)
        return start, end, "month"
    if m := re.fullmatch(r"(\d{4})", text):
        return datetime(int(m[1]), 1, 1, tzinfo=UTC), datetime(int(m[1]) + 1, 1, 1, tzinfo=UTC), "month"
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        y, mo = int(m[1]), int(m[2])
        if not 1 <= mo <= 12:
            raise ComplianceError(f"period {period!r}: month {mo} is not 1-12")
        end = datetime(y + (mo == 12), 1 if mo == 12 else mo + 1, 1, tzinfo=UTC)
        return datetime(y, mo, 1, tzinfo=UTC), end, "week"
    raise ComplianceError(f"period {period!r} is not a quarter (2026Q1), a year (2026) or a month (2026-03)")


@dataclass(frozen=True)
class ComplianceReport:
    """Everything the report shows."""

    period: str
    run_id: str
    bars: int
    attribution: LinkedBrinson
    timing: list[TimingSplit]
    limits: list[dict[str, Any]]
    gate: dict[str, Any]
    risk: dict[str, float]
    audit: VerifyReport
    tax: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The headline numbers (what ``--json`` prints)."""
        return {"bars": self.bars, "portfolio_return": self.attribution.portfolio_return,
                "benchmark_return": self.attribution.benchmark_return,
                "linked_effects": self.attribution.linked_totals(), "risk": self.risk,
                "breaches": sum(int(row["breaches"]) for row in self.limits), "gate": self.gate,
                "audit": {"ok": self.audit.ok, "head_seq": self.audit.head_seq, "head_hash": self.audit.head_hash,
                          "problem": self.audit.problem}, "tax": self.tax}


def build_report(run: SavedRun, period: str, audit: VerifyReport, limits: GateLimits | None = None) -> ComplianceReport:
    """Compute the report of ``period`` from ``run``.

    Raises
    ------
    ComplianceError
        If the period is malformed or the run has fewer than two bars in it.
    """
    start, end, unit = parse_period(period)
    ts = pd.to_datetime(run.timestamps, utc=True)
    inside = np.flatnonzero((ts >= start) & (ts < end))
    if inside.shape[0] < 2:
        raise ComplianceError(f"run {run.run_id} has {inside.shape[0]} bars in {period} "
                              f"(it covers {ts[0].date()} to {ts[-1].date()}); need at least 2")
    lim = limits or GateLimits()
    eq = np.concatenate([[float(run.summary.get("config", {}).get("initial_cash", run.equity[0]))], run.equity])
    returns = eq[inside + 1] / eq[inside] - 1.0
    market = _market_returns(run, inside)
    labels = [t.strftime("%Y-%m") if unit == "month" else f"{t.isocalendar().year}-W{t.isocalendar().week:02d}"
              for t in ts[inside]]
    notes = ["Attribution: buy-and-hold within each sub-period from its first bar's weights, against an "
             "equal-weighted universe; cash is a sector with zero return. Linked with Carino's factors."]
    attribution = _linked(run, inside, labels)
    timing: list[TimingSplit] = []
    try:
        timing = selection_timing(returns, market, labels)
    except AnalyticsError as e:  # too few bars for the regression
        notes.append(f"Selection vs timing not computed: {e}")
    risk = _risk(returns, run.weights[inside])
    tax = _tax(run, start, end, risk["return"], Decimal(repr(float(eq[inside[0]]))), notes)
    return ComplianceReport(period, run.run_id, int(inside.shape[0]), attribution, timing,
                            _limits(run, inside, lim, risk), _gate(run, start, end), risk, audit, tax, notes)


def _tax(run: SavedRun, start: datetime, end: datetime, pre_tax: float, equity: Decimal,
         notes: list[str]) -> dict[str, Any] | None:
    """Tax alpha of the period from the run's own trades (long positions)."""
    txns, skipped = transactions_from_trades(run.trades)
    if not txns:
        return None
    try:
        ledger = build_ledger(txns)
    except TaxLotError as e:
        notes.append(f"Tax section not computed: {e}")
        return None
    if skipped:
        notes.append(f"Tax: {skipped} short-sale records are outside the tax lots.")
    gains = period_gains(ledger.dispositions(), start.date(), end.date())
    return tax_alpha_summary(pre_tax, equity, gains, ledger.deferred_losses())


def _market_returns(run: SavedRun, inside: np.ndarray) -> Float64Array:
    if run.benchmark is not None:
        b = run.benchmark
        prev = np.where(inside > 0, b[np.maximum(inside - 1, 0)], np.nan)
        out: Float64Array = np.nan_to_num(b[inside] / prev - 1.0)
        return out
    close = run.close
    prev = close[np.maximum(inside - 1, 0)]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = close[inside] / prev - 1.0
    r[inside == 0] = 0.0
    return np.asarray(np.nan_to_num(np.nanmean(np.where(np.isfinite(r), r, np.nan), axis=1)), dtype=np.float64)


def _linked(run: SavedRun, inside: np.ndarray, labels: list[str]) -> LinkedBrinson:
    sectors = np.asarray([*run.sectors, "cash"])
    results, rp, rb, names = [], [], [], []
    n = len(run.tickers)
    for label in dict.fromkeys(labels):
        idx = inside[np.asarray(labels) == label]
        first, last = int(idx[0]), int(idx[-1])
        base = run.close[max(first - 1, 0)]
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.nan_to_num(run.close[last] / base - 1.0)
        r = np.append(r, 0.0)
        w = weights_with_cash(run.weights[max(first - 1, 0)])
        bw = np.append(np.full(n, 1.0 / n), 0.0)
        res = brinson(w, bw, r, r, sectors)
        results.append(res)
        rp.append(float(w @ r))
        rb.append(float(bw @ r))
        names.append(label)
    return link_brinson(results, rp, rb, names)


def _risk(returns: Float64Array, weights: Float64Array) -> dict[str, float]:
    var = historical_var(returns, 0.95) if returns.shape[0] >= 2 else None
    return {"var_95": var.var if var else float("nan"), "cvar_95": var.cvar if var else float("nan"),
            "max_drawdown": max_drawdown(returns), "turnover": turnover(weights) if weights.shape[0] >= 2 else 0.0,
            "return": float(np.prod(1 + returns) - 1)}


def _limits(run: SavedRun, inside: np.ndarray, lim: GateLimits, risk: dict[str, float]) -> list[dict[str, Any]]:
    w = np.nan_to_num(run.weights[inside])
    stock = np.abs(w).max(axis=1)
    sectors = np.asarray(run.sectors)
    sector = np.max([np.abs(w[:, sectors == s].sum(axis=1)) for s in np.unique(sectors)], axis=0)
    rows = [_limit("single-stock weight", stock, lim.max_weight),
            _limit("sector weight", sector, lim.max_sector_weight),
            {"limit": "VaR 95 % (one period)", "max_used": risk["var_95"], "limit_value": lim.max_var,
             "usage": risk["var_95"] / lim.max_var, "breaches": int(risk["var_95"] > lim.max_var)},
            {"limit": "drawdown", "max_used": -risk["max_drawdown"], "limit_value": lim.max_drawdown,
             "usage": -risk["max_drawdown"] / lim.max_drawdown,
             "breaches": int(-risk["max_drawdown"] > lim.max_drawdown)}]
    if run.beta is not None:
        beta = run.beta[inside]
        invested = np.abs(w).sum(axis=1) > 0
        out = invested & ((beta < lim.beta_min) | (beta > lim.beta_max))
        rows.append({"limit": f"beta band [{lim.beta_min}, {lim.beta_max}]", "max_used": float(np.nanmax(beta)),
                     "limit_value": lim.beta_max, "usage": float(np.nanmax(beta)) / lim.beta_max,
                     "breaches": int(out.sum())})
    return rows


def _limit(name: str, used: Float64Array, limit: float) -> dict[str, Any]:
    tol = 1e-9
    return {"limit": name, "max_used": float(used.max()), "limit_value": limit, "usage": float(used.max()) / limit,
            "breaches": int((used > limit + tol).sum())}


def _gate(run: SavedRun, start: datetime, end: datetime) -> dict[str, Any]:
    g = run.gate_events
    if g is None or not len(g):
        return {"events": 0, "by_action": {}, "top_reasons": {}}
    t = pd.to_datetime(g["timestamp"], utc=True)
    g = g[(t >= start) & (t < end)]
    reasons = g["reasons"].astype(str).str.split(";").explode().str.strip()
    reasons = reasons[reasons != ""].str.replace(r"[-+]?\d[\d.,e-]*", "#", regex=True)
    return {"events": len(g), "by_action": {str(k): int(v) for k, v in g["action"].value_counts().items()},
            "top_reasons": {str(k): int(v) for k, v in reasons.value_counts().head(8).items()}}


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.2f} %"


def _cell(key: str, value: Any, pct: frozenset[str]) -> str:
    if isinstance(value, float):
        return _pct(value) if key in pct else f"{value:.4f}"
    return html.escape(str(value))


def _table(rows: list[dict[str, Any]], pct: frozenset[str] | set[str] = frozenset()) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_cell(k, v, frozenset(pct))}</td>" for k, v in r.items()) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _tax_html(tax: dict[str, Any] | None) -> str:
    if tax is None:
        return "<h2>Tax alpha</h2><p>No long-position trades in the run.</p>"
    rows = [{"pre-tax return": _pct(tax["pre_tax_return"]), "after-tax return": _pct(tax["after_tax_return"]),
             "estimated tax": tax["tax"], "short-term gains": tax["short_term_gains"],
             "long-term gains": tax["long_term_gains"], "losses disallowed (wash sales)": tax["disallowed_in_year"],
             "deferred losses in open lots": tax["deferred_losses"]}]
    return ("<h2>Tax alpha (FIFO lots, wash sales applied)</h2>" + _table(rows)
            + f"<p>Rates: short-term {tax['rates']['short_term']}, long-term {tax['rates']['long_term']}.</p>")


def render_report(report: ComplianceReport, path: Path) -> Path:
    """Write the report as one HTML file."""
    a = report.attribution
    linked = [{"sector": s, "allocation": a.linked["allocation"][s], "selection": a.linked["selection"][s],
               "interaction": a.linked["interaction"][s]} for s in a.sectors]
    linked.append({"sector": "total", **a.linked_totals()})
    timing = [asdict(t) for t in report.timing]
    audit = report.audit
    status = "verified" if audit.ok else f"BROKEN at entry {audit.first_bad_seq}: {audit.problem}"
    parts = [
        f"<h1>Compliance report {html.escape(report.period)}</h1>",
        f"<p>Run <code>{html.escape(report.run_id)}</code>, {report.bars} bars. Generated "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.</p>",
        "<h2>Audit trail</h2>",
        f"<p>Chain <code>{html.escape(audit.chain)}</code>: {audit.entries} entries, {html.escape(status)}.<br>"
        f"Head entry {audit.head_seq}, hash <code>{audit.head_hash}</code></p>",
        "<h2>Risk</h2>", _table([{k: v for k, v in report.risk.items()}], pct=set(report.risk)),
        "<h2>Risk-limit usage and breaches</h2>", _table(report.limits, pct={"max_used", "limit_value", "usage"}),
        f"<h2>Risk gate</h2><p>{report.gate['events']} orders resized or rejected in the period: "
        f"{html.escape(str(report.gate['by_action']))}</p>",
        _table([{"reason": k, "count": v} for k, v in report.gate["top_reasons"].items()]),
        f"<h2>Attribution (Brinson–Fachler, linked with Carino)</h2><p>Portfolio {_pct(a.portfolio_return)}, "
        f"benchmark {_pct(a.benchmark_return)}, active {_pct(a.total_active)}.</p>",
        _table(linked, pct={"allocation", "selection", "interaction"}),
        "<h3>Per sub-period</h3>",
        _table([dict(p) for p in a.periods], pct={"portfolio", "benchmark", "allocation", "selection",
                                                   "interaction", "active_return"}),
        "<h2>Selection vs market timing (Treynor–Mazuy)</h2>",
        _table(timing, pct={"active", "selection", "timing", "exposure", "residual"}),
        _tax_html(report.tax),
        "<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in report.notes) + "</ul>",
    ]
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse;"
             "margin:.5em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}"
             "td:first-child{text-align:left}code{font-size:90%}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>Compliance {html.escape(report.period)}"
                    f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")
    return path
