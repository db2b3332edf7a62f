"""From a saved run to the HTML tearsheet (``tftrade report``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tftrade.analytics.attribution import BrinsonResult, linked_brinson
from tftrade.analytics.tearsheet import TearsheetData, render_tearsheet
from tftrade.backtest.config import periods_per_year
from tftrade.backtest.runs import SavedRun

SYNTHETIC_BENCHMARK = "^MKT"
SYNTHETIC_NOTE = ("This market is synthetic (tftrade's generator): its sentiment leads returns by design, so a "
                  "strategy that reads sentiment is expected to beat it here. The result checks that the pipeline "
                  "finds a planted signal; it says nothing about returns on a real market. 'Where the return comes "
                  "from' shows the same run with stops off, with price-only ridge forecasts, and with the TFT "
                  "retrained without sentiment.")
SURVIVORSHIP_NOTE = ("Survivorship bias: the universe is the tickers stored today. If they come from a present-day "
                     "constituent list (e.g. the S&P 500 data set), companies that left the index or were delisted "
                     "before today are missing, which flatters the backtest.")


def tearsheet_data(run: SavedRun, annualise_min_sessions: int | None = None) -> TearsheetData:
    """Everything the tearsheet shows, from a saved run."""
    s = run.summary
    synthetic = s.get("benchmark") == SYNTHETIC_BENCHMARK
    notes = list(s.get("notes", []))
    settings = s.get("settings") or {}
    risk = settings.get("risk") or {}
    band = (float(risk["beta_min"]), float(risk["beta_max"])) if risk else ((0.8, 1.2) if s.get("config") else None)
    horizon = annualise_min_sessions or int(s.get("annualise_min_sessions", 252))
    return TearsheetData(
        title=f"tftrade backtest {run.run_id} ({s['strategy']}, {s['timeframe']}, {len(run.tickers)} tickers)",
        timestamps=run.timestamps, equity=run.equity, benchmark=run.benchmark, tickers=run.tickers,
        sectors=run.sectors, weights=run.weights, beta=run.beta, metrics=_numbers(s["metrics"]),
        benchmark_metrics=None if s.get("benchmark_metrics") is None else _numbers(s["benchmark_metrics"]),
        periods_per_year=periods_per_year(s["timeframe"]),
        trades=run.trades, forecasts=run.forecasts, importance=s.get("importance"), sentiment=run.sentiment,
        attribution=attribution(run), gate_events=run.gate_events if len(run.gate_events) else None,
        notes=notes, beta_band=band, summary=s, cash=run.cash, annualise_min_sessions=horizon,
        sessions=s.get("sessions"), comparison=s.get("comparison"), comparison_equity=run.comparison_equity,
        context=[SYNTHETIC_NOTE] if synthetic else [SURVIVORSHIP_NOTE],
    )


def _numbers(values: dict[str, float | None]) -> dict[str, float]:
    """Metrics read from strict JSON (``null`` for NaN) back as floats."""
    return {k: float("nan") if v is None else float(v) for k, v in values.items()}


def attribution(run: SavedRun) -> BrinsonResult | None:
    """Linked Brinson–Fachler of the run against its headline benchmark (see :func:`linked_brinson`).

    Without a benchmark the equal-weighted universe is the benchmark. ``None`` when the run never held anything.
    """
    if run.weights.shape[0] < 2 or not np.abs(run.weights).sum() > 0:
        return None
    close = run.close
    with np.errstate(invalid="ignore", divide="ignore"):
        asset = np.vstack([np.full((1, close.shape[1]), np.nan), close[1:] / close[:-1] - 1.0])
    rp = np.r_[0.0, run.equity[1:] / run.equity[:-1] - 1.0]
    name = str(run.summary.get("benchmark") or "the equal-weighted universe")
    if run.benchmark is not None:
        rb = np.nan_to_num(np.r_[0.0, run.benchmark[1:] / run.benchmark[:-1] - 1.0])
    else:
        has = np.isfinite(asset)
        rb = np.where(has, asset, 0.0).sum(axis=1) / np.maximum(has.sum(axis=1), 1)
    return linked_brinson(run.weights, asset, np.asarray(run.sectors), rp, rb, benchmark_name=name)


def render_run(run: SavedRun, out: Path | None = None, annualise_min_sessions: int | None = None) -> Path:
    """Render the run's tearsheet (default ``<run dir>/tearsheet.html``)."""
    return render_tearsheet(tearsheet_data(run, annualise_min_sessions), out or run.path / "tearsheet.html")
