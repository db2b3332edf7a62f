"""Saved backtest runs under ``$TFTRADE_HOME/backtests/<run id>/`` (what ``tftrade report`` reads).

A run directory holds ``arrays.npz`` (timestamps, equity, cash, weights, beta, benchmark equity,
tickers, sectors), ``trades.parquet``, ``gate.parquet``, ``forecasts.parquet`` and
``sentiment.parquet`` when the strategy had them, and ``summary.json`` (metrics, counts, notes,
variable importance, effective settings, costs, exposure, stops; first the ``banner`` when the model gave
no views, its ``model`` verdict, and the comparison runs with the stops' effect). It is written to a temporary
directory; :func:`save_run` with an engine inserts the run's trades into ``trade_executions`` and
renames the folder into place inside one database transaction, so the folder and the rows exist
together or not at all (a failed commit renames the folder back and removes it). A run recorded
with an audit trail also stores its chain (named after the run id) in that transaction, and its
summary names the chain, its length and its head hash.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from tftrade.backtest.errors import BacktestError
from tftrade.backtest.forecasts import realised_returns
from tftrade.backtest.result import json_safe
from tftrade.backtest.workflow import BacktestRun
from tftrade.core.errors import NotFoundError
from tftrade.core.types import Float64Array, Int64Array


@dataclass(frozen=True)
class SavedRun:
    """A run read back from disk."""

    run_id: str
    path: Path
    summary: dict[str, Any]
    timestamps: Int64Array
    equity: Float64Array
    benchmark: Float64Array | None
    weights: Float64Array
    beta: Float64Array | None
    tickers: tuple[str, ...]
    sectors: tuple[str, ...]
    close: Float64Array
    trades: pd.DataFrame
    gate_events: pd.DataFrame
    forecasts: pd.DataFrame | None
    sentiment: pd.DataFrame | None
    cash: Float64Array | None = None
    gross_equity: Float64Array | None = None
    comparison_equity: dict[str, Float64Array] | None = None
    """Equity of the comparison runs on the run's bars, by comparison name (``stops``, ``ridge``, ...)."""


def runs_dir(home: Path) -> Path:
    """Folder of saved runs."""
    return home / "backtests"


def new_run_id(strategy: str, now: datetime | None = None) -> str:
    """``bt-YYYYmmddTHHMMSSffffff-<strategy>`` in UTC (sortable by time).

    >>> new_run_id("tft", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    'bt-20240102T030405000000-tft'
    """
    return f"bt-{(now or datetime.now(UTC)).strftime('%Y%m%dT%H%M%S%f')}-{strategy}"


def save_run(home: Path, run: BacktestRun, run_id: str, engine: Engine | None = None) -> Path:
    """Write ``run`` as ``run_id`` atomically (with its trades in ``engine`` when given); returns its directory.

    Raises
    ------
    BacktestError
        If the run exists already. Any error leaves neither the folder nor the rows behind.
    """
    final = runs_dir(home) / run_id
    if final.exists():
        raise BacktestError(f"backtest run {run_id} already exists")
    tmp = runs_dir(home) / f".{run_id}.tmp"
    try:
        _write_folder(tmp, run, run_id)

        def publish() -> Callable[[], None]:
            tmp.rename(final)

            def undo() -> None:
                final.rename(tmp)

            return undo

        if engine is None:
            publish()
        else:
            from tftrade.store.trades import write_trades

            write_trades(engine, run.result.trades, publish=publish,
                         within=None if run.audit is None else run.audit.store)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _write_folder(tmp: Path, run: BacktestRun, run_id: str) -> None:
    res, m = run.result, run.result.market
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    bench = res.benchmark_equity()
    np.savez_compressed(
        tmp / "arrays.npz", timestamps=m.timestamps, equity=res.equity, cash=res.cash, weights=res.weights,
        gross_equity=res.gross_equity(),
        beta=res.beta, benchmark=np.full(m.n_times, np.nan) if bench is None else bench, close=m.close,
        tickers=np.asarray(m.tickers), sectors=np.asarray(m.sectors),
        comparison_keys=np.asarray(list(run.comparison_equity or {}), dtype=str),
        comparison_equity=np.asarray(list((run.comparison_equity or {}).values()), dtype=np.float64).reshape(
            len(run.comparison_equity or {}), m.n_times),
    )
    res.trades_frame().to_parquet(tmp / "trades.parquet")
    res.gate_frame().to_parquet(tmp / "gate.parquet")
    importance = None
    if run.forecasts is not None:
        fc = run.forecasts
        rows = np.searchsorted(m.timestamps, fc.timestamps)
        inside = (rows < m.n_times) & (m.timestamps[np.minimum(rows, m.n_times - 1)] == fc.timestamps)
        cols = pd.Index(m.tickers).get_indexer(list(fc.tickers))
        realised = np.full(fc.q50.shape, np.nan)
        real = realised_returns(m.close, fc.horizon)[rows[inside]]
        realised[np.ix_(np.flatnonzero(inside), np.flatnonzero(cols >= 0))] = real[:, cols[cols >= 0]]
        keep = np.zeros(fc.q50.shape, dtype=bool)
        keep[inside] = True
        frame = fc.frame(np.where(keep, realised, np.nan))
        frame[frame["as_of"] >= pd.Timestamp(int(m.timestamps[0]), unit="ns", tz="UTC")].to_parquet(
            tmp / "forecasts.parquet")
        importance = fc.importance
    if run.sentiment is not None:
        s = run.sentiment
        rows = np.searchsorted(s.timestamps, m.timestamps)
        ok = (rows < s.timestamps.shape[0])
        score = np.full((m.n_times, m.n_tickers), np.nan)
        score[ok] = s.score[rows[ok]]
        pd.DataFrame({
            "ticker": np.tile(np.asarray(m.tickers, dtype=object), m.n_times),
            "timestamp": pd.to_datetime(np.repeat(m.timestamps, m.n_tickers), utc=True),
            "sentiment": score.ravel(), "price": m.close.ravel(),
        }).dropna(subset=["sentiment"]).to_parquet(tmp / "sentiment.parquet")
    summary = {"run_id": run_id, **run_header(run), "strategy": run.strategy, "timeframe": m.timeframe,
               **res.summary(), "importance": importance, "config": res.config.model_dump(),
               **(run.audit.summary(res) if run.audit is not None else {})}
    (tmp / "summary.json").write_text(json.dumps(json_safe(summary), indent=2, allow_nan=False,
                                                 default=_json_default))


def run_header(run: BacktestRun) -> dict[str, Any]:
    """What a run's summary leads with: the ``banner`` (the model gave no views, or was forced; ``None``
    otherwise), the ``model`` verdict, the comparison runs asked for and made, and the stops' effect."""
    return {"banner": None if run.model is None else run.model.get("banner"), "model": run.model,
            "compare": list(run.compared), "comparison": run.comparison, "stops_effect": run.stops_effect}


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def load_run(home: Path, run_id: str | None = None) -> SavedRun:
    """Read a run (the latest when ``run_id`` is ``None``).

    Raises
    ------
    NotFoundError
        If there is no such run (or none at all).
    """
    folder = runs_dir(home)
    if run_id is None:
        done = sorted(p.name for p in folder.glob("bt-*") if p.is_dir()) if folder.exists() else []
        if not done:
            raise NotFoundError("no backtest has been run yet; run `tftrade backtest` first")
        run_id = done[-1]
    path = folder / run_id
    if not path.is_dir():
        raise NotFoundError(f"no backtest run {run_id} under {folder}")
    a = np.load(path / "arrays.npz")
    bench = a["benchmark"]
    beta = a["beta"]

    def frame(name: str) -> pd.DataFrame | None:
        p = path / name
        return pd.read_parquet(p) if p.exists() else None

    return SavedRun(
        run_id, path, json.loads((path / "summary.json").read_text()), a["timestamps"], a["equity"],
        None if np.isnan(bench).all() else bench, a["weights"], None if np.isnan(beta).all() else beta,
        tuple(str(t) for t in a["tickers"]), tuple(str(s) for s in a["sectors"]), a["close"],
        pd.read_parquet(path / "trades.parquet"), pd.read_parquet(path / "gate.parquet"),
        frame("forecasts.parquet"), frame("sentiment.parquet"),
        a["cash"] if "cash" in a.files else None, a["gross_equity"] if "gross_equity" in a.files else None,
        {str(k): a["comparison_equity"][i] for i, k in enumerate(a["comparison_keys"])}
        if "comparison_keys" in a.files and len(a["comparison_keys"]) else None,
    )
