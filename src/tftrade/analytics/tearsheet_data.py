"""Inputs of the HTML tearsheet, validated on construction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tftrade.analytics.attribution import BrinsonResult
from tftrade.analytics.errors import AnalyticsError
from tftrade.core.types import Float64Array, Int64Array

TRADE_COLUMNS = ("timestamp", "ticker", "action", "quantity", "price", "pnl", "rationale")
FORECAST_COLUMNS = ("ticker", "as_of", "horizon", "q10", "q50", "q90", "realised")
SENTIMENT_COLUMNS = ("ticker", "timestamp", "sentiment", "price")
GATE_COLUMNS = ("timestamp", "ticker", "action", "reasons")
IMPORTANCE_GROUPS = ("static", "encoder", "decoder")


@dataclass(frozen=True)
class TearsheetData:
    """Everything the tearsheet shows; optional sections are ``None`` (or empty) when absent.

    Shapes: ``T`` backtest steps, ``n`` tickers. ``timestamps`` are epoch nanoseconds (UTC),
    sorted; ``equity`` and ``benchmark`` are portfolio values (the benchmark scaled to the
    same start); ``weights`` are end-of-step weights. Frames need the columns listed in
    ``TRADE_COLUMNS``, ``FORECAST_COLUMNS``, ``SENTIMENT_COLUMNS`` and ``GATE_COLUMNS``
    (extra columns are ignored). ``importance`` maps ``static``/``encoder``/``decoder`` to
    variable -> share. ``beta_band`` (optional) draws the allowed beta range.

    Raises
    ------
    AnalyticsError
        On construction, naming the field whose shape, type or columns are wrong.
    """

    title: str
    timestamps: Int64Array
    equity: Float64Array
    benchmark: Float64Array | None
    tickers: Sequence[str]
    sectors: Sequence[str]
    weights: Float64Array
    beta: Float64Array | None
    metrics: Mapping[str, float]
    benchmark_metrics: Mapping[str, float] | None
    periods_per_year: float
    trades: pd.DataFrame
    forecasts: pd.DataFrame | None
    importance: Mapping[str, Mapping[str, float]] | None
    sentiment: pd.DataFrame | None
    attribution: BrinsonResult | None
    gate_events: pd.DataFrame | None
    notes: Sequence[str] = ()
    beta_band: tuple[float, float] | None = None
    summary: Mapping[str, Any] | None = None
    """A run's summary (costs, exposure, stops, settings, gross return...) for the cost and settings sections."""
    cash: Float64Array | None = None
    """Cash per step (same units as equity), for the exposure chart."""
    annualise_min_sessions: int = 252
    """Runs shorter than this many sessions lead with period returns; annualised figures are set apart."""
    sessions: float | None = None
    """Trading sessions the run spans (from the timestamps' New York dates when ``None``)."""
    comparison: Sequence[Mapping[str, Any]] | None = None
    """The same run under other forecasts or without sentiment (variant, total_return, ...)."""
    context: Sequence[str] = ()
    """Paragraphs shown under the title (what the market is, survivorship, ...)."""
    comparison_equity: Mapping[str, Float64Array] | None = None
    """Equity of each comparison run (by the rows' ``key``) on the run's steps, for one chart."""

    def __post_init__(self) -> None:
        validate(self)


def validate(data: TearsheetData) -> None:
    """Raise :class:`AnalyticsError` naming the first invalid field of ``data``."""
    ts = np.asarray(data.timestamps)
    if ts.ndim != 1 or ts.shape[0] < 2 or not np.issubdtype(ts.dtype, np.integer):
        raise AnalyticsError(f"timestamps must be a 1-D integer array (epoch ns) of at least 2 steps, "
                             f"got dtype {ts.dtype} shape {ts.shape}")
    if np.any(np.diff(ts) < 0):
        raise AnalyticsError("timestamps must be sorted ascending")
    steps = ts.shape[0]
    equity = _series(data.equity, "equity", steps)
    if not np.all(np.isfinite(equity)) or np.any(equity <= 0):
        raise AnalyticsError("equity must be finite and positive")
    if data.benchmark is not None:
        bench = _series(data.benchmark, "benchmark", steps)
        if np.any(bench[np.isfinite(bench)] <= 0):
            raise AnalyticsError("benchmark must be positive")
    if data.beta is not None:
        _series(data.beta, "beta", steps)
    n = len(data.tickers)
    if len(data.sectors) != n:
        raise AnalyticsError(f"sectors has {len(data.sectors)} entries, expected one per ticker ({n})")
    weights = np.asarray(data.weights)
    if weights.shape != (steps, n):
        raise AnalyticsError(f"weights has shape {weights.shape}, expected (T, n) = {(steps, n)}")
    if not data.periods_per_year > 0:
        raise AnalyticsError(f"periods_per_year must be > 0, got {data.periods_per_year}")
    _metrics(data.metrics, "metrics")
    if data.benchmark_metrics is not None:
        _metrics(data.benchmark_metrics, "benchmark_metrics")
    _frame(data.trades, "trades", TRADE_COLUMNS)
    for frame, name, cols in ((data.forecasts, "forecasts", FORECAST_COLUMNS),
                              (data.sentiment, "sentiment", SENTIMENT_COLUMNS),
                              (data.gate_events, "gate_events", GATE_COLUMNS)):
        if frame is not None:
            _frame(frame, name, cols)
    if data.importance is not None:
        unknown = set(data.importance) - set(IMPORTANCE_GROUPS)
        if unknown:
            raise AnalyticsError(f"importance has unknown groups {sorted(unknown)}; expected {IMPORTANCE_GROUPS}")
    if data.cash is not None:
        _series(data.cash, "cash", steps)
    for key, curve in (data.comparison_equity or {}).items():
        _series(curve, f"comparison_equity[{key!r}]", steps)
    if data.annualise_min_sessions < 1:
        raise AnalyticsError(f"annualise_min_sessions must be >= 1, got {data.annualise_min_sessions}")
    if data.beta_band is not None and not data.beta_band[0] <= data.beta_band[1]:
        raise AnalyticsError(f"beta_band {data.beta_band} is not (low, high)")


def _series(value: Float64Array, name: str, steps: int) -> Float64Array:
    arr = np.asarray(value)
    if arr.shape != (steps,):
        raise AnalyticsError(f"{name} has shape {arr.shape}, expected ({steps},) like timestamps")
    if not np.issubdtype(arr.dtype, np.number):
        raise AnalyticsError(f"{name} must be numeric, got dtype {arr.dtype}")
    return np.asarray(arr, dtype=np.float64)


def _metrics(values: Mapping[str, float], name: str) -> None:
    if not isinstance(values, Mapping):
        raise AnalyticsError(f"{name} must be a mapping of metric name to number, got {type(values).__name__}")
    bad = [k for k, v in values.items() if not isinstance(v, (int, float, np.number))]
    if bad:
        raise AnalyticsError(f"{name} has non-numeric values for {bad}")


def _frame(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise AnalyticsError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AnalyticsError(f"{name} is missing columns {missing}; expected {list(columns)}")
