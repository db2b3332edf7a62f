"""From a saved run to the HTML tearsheet (``tftrade report``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tftrade.analytics.attribution import BrinsonResult, brinson
from tftrade.analytics.tearsheet import TearsheetData, render_tearsheet
from tftrade.backtest.config import periods_per_year
from tftrade.backtest.runs import SavedRun

ATTRIBUTION_NOTE = ("Attribution: single period, the run's average weights against an equal-weighted universe "
                    "(the benchmark's constituents are not known).")


def tearsheet_data(run: SavedRun) -> TearsheetData:
    """Everything the tearsheet shows, from a saved run."""
    s = run.summary
    notes = [*s.get("notes", []), ATTRIBUTION_NOTE]
    limits = s.get("config", {})
    return TearsheetData(
        title=f"tftrade backtest {run.run_id} ({s['strategy']}, {s['timeframe']}, {len(run.tickers)} tickers)",
        timestamps=run.timestamps, equity=run.equity, benchmark=run.benchmark, tickers=run.tickers,
        sectors=run.sectors, weights=run.weights, beta=run.beta, metrics=s["metrics"],
        benchmark_metrics=s.get("benchmark_metrics"), periods_per_year=periods_per_year(s["timeframe"]),
        trades=run.trades, forecasts=run.forecasts, importance=s.get("importance"), sentiment=run.sentiment,
        attribution=attribution(run), gate_events=run.gate_events if len(run.gate_events) else None,
        notes=notes, beta_band=(0.8, 1.2) if limits else None,
    )


def attribution(run: SavedRun) -> BrinsonResult | None:
    """Single-period Brinson–Fachler over the run: average weights vs an equal-weighted universe.

    Asset returns are the run's first-to-last close returns (0 for names without both).
    """
    w = run.weights.mean(axis=0)
    if w.sum() <= 0:
        return None
    close = run.close
    first = np.array([close[np.flatnonzero(np.isfinite(c))[0], i] if np.isfinite(c).any() else np.nan
                      for i, c in enumerate(close.T)])
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.nan_to_num(close[-1] / first - 1.0)
    n = len(run.tickers)
    return brinson(w / w.sum(), np.full(n, 1.0 / n), r, r, np.asarray(run.sectors))


def render_run(run: SavedRun, out: Path | None = None) -> Path:
    """Render the run's tearsheet (default ``<run dir>/tearsheet.html``)."""
    return render_tearsheet(tearsheet_data(run), out or run.path / "tearsheet.html")
