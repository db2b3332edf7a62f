"""The ``train``, ``predict`` and ``explain`` workflows on the store, for the CLI and services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from tftrade.core.types import Timeframe
from tftrade.features.dataset import WARMUP, Panel
from tftrade.features.errors import FeatureError
from tftrade.features.stored import StoredMarket
from tftrade.forecast.data import SentimentLookup, panel_from_bars
from tftrade.forecast.errors import ForecastError, InsufficientHistoryError, UnknownTickerError
from tftrade.forecast.evaluation import evaluate, reliability_table
from tftrade.forecast.explain import Explanation, explain
from tftrade.forecast.prediction import Forecast, predict_latest, write_predictions
from tftrade.forecast.registry import DEFAULT_NAME, ModelRegistry, Selection
from tftrade.forecast.tft.config import preset
from tftrade.forecast.training import TrainConfig, Trained, fit, run_key


@dataclass
class TrainResult:
    """What ``tftrade train`` reports."""

    model_version: str
    timeframe: str
    preset: str
    tickers: int
    skipped: list[dict[str, str]]
    """Tickers left out of training, each with the reason."""
    epochs: int
    metrics: dict[str, dict[str, float]]
    history: list[dict[str, float]] = field(default_factory=list)
    status: str = "ok"
    """``ok`` or ``loses_to_baseline`` (validation P50 q-risk): a losing model is registered, marked,
    and not traded unless forced."""
    skill: dict[str, Any] = field(default_factory=dict)
    """Validation calibration: status, baselines that beat the model, per-horizon skill."""
    reliability: list[dict[str, float]] = field(default_factory=list)
    """Test-window reliability of the confidence: the hit rate per confidence bin."""
    absent_inputs: list[str] = field(default_factory=list)
    price_only: list[str] = field(default_factory=list)
    """Price-only series used (returns from the price; OHLC- and volume-based inputs masked)."""
    checkpoint: dict[str, Any] = field(default_factory=dict)
    """Run key, the epoch resumed from (0: fresh) and what happened to earlier checkpoints."""


def store_panel(
    engine: Engine, tickers: list[str] | None, timeframe: Timeframe, min_bars: int, stored: StoredMarket | None = None,
) -> tuple[Panel, list[dict[str, str]]]:
    """Read bars from the store and build a panel of the tickers with complete history.

    ``stored`` (a :class:`~tftrade.features.stored.StoredMarket` of ``timeframe`` holding at least
    these tickers' bars) is used instead of reading the store again.

    Sentiment features come from ``reddit_sentiment_aggregated`` when it holds rows for these
    tickers and bars (``1min`` windows for minute bars, ``1h`` for daily bars; see
    :mod:`tftrade.features.bar_sentiment`); otherwise they are zero with ``sentiment_present`` 0.

    Price-only series (ingested from files of prices only) are used: returns and close-based
    indicators come from the price, their OHLC- and volume-based inputs are masked. Index series
    (``^VIX``, ``^MKT``: benchmarks and regime inputs, not tradable) are left out unless named.
    Tickers whose first bar comes after the panel's first bar, or with fewer than ``min_bars`` bars,
    are left out. Every ticker left out is listed with its reason (``{"ticker", "reason"}``).

    Raises
    ------
    InsufficientHistoryError
        If no ticker has enough history.
    """
    if stored is None:
        stored = StoredMarket.read(engine, tickers, timeframe)
    bars = stored.select([t.upper() for t in tickers]) if tickers else stored.bars
    if tickers:
        missing = sorted({t.upper() for t in tickers} - set(bars["ticker"]))
        if missing:
            raise UnknownTickerError(f"no {timeframe} bars stored for {', '.join(missing)}; ingest them first")
    named = {t.upper() for t in tickers or []}
    every = sorted(str(t) for t in bars["ticker"].unique())
    skipped = [{"ticker": t, "reason": "index series (benchmark/regime input, not tradable); name it to train on it"}
               for t in every if t.startswith("^") and t not in named]
    keep = [t for t in every if not t.startswith("^") or t in named]
    bars = bars[bars["ticker"].isin(keep)]
    first = bars.groupby("ticker")["window_start"].min()
    counts = bars.groupby("ticker").size()
    ok = []
    for t in keep:
        if first[t] != first.min():
            skipped.append({"ticker": t, "reason": f"history starts {first[t]}, after the panel's first bar "
                                                   f"{first.min()}"})
        elif counts[t] < min_bars:
            skipped.append({"ticker": t, "reason": f"{counts[t]} bars; training needs {min_bars}"})
        else:
            ok.append(t)
    if not ok:
        raise InsufficientHistoryError(
            f"no {timeframe} ticker has the {min_bars} bars (warm-up + context + splits) training needs"
        )
    panel = panel_from_bars(bars[bars["ticker"].isin(ok)], timeframe, stored.sectors, _sentiment(stored))
    return panel, sorted(skipped, key=lambda d: d["ticker"])


@dataclass(frozen=True)
class RegistryRef:
    """Where models are registered: MLflow model name and tracking URI (``None``: SQLite in home)."""

    name: str = DEFAULT_NAME
    tracking_uri: str | None = None

    def open(self, home: Path) -> ModelRegistry:
        return ModelRegistry(home, self.name, self.tracking_uri)


def train(
    engine: Engine, home: Path, tickers: list[str] | None, timeframe: Timeframe, preset_name: str = "default",
    epochs: int = 20, max_samples: int | None = None, seed: int = 0,
    on_epoch: Callable[[dict[str, float]], None] | None = None, batch_size: int = 256,
    registry: RegistryRef | None = None, on_note: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train on stored bars, calibrate on validation, score against baselines on held-out data,
    register in MLflow (a model that loses to a baseline on validation is registered and marked).

    Checkpoints live in ``home/checkpoints/<run key>`` (:func:`~tftrade.forecast.training.run_key`:
    configuration and data): only the identical run resumes; ``on_note`` hears what happened.
    """
    config = preset(preset_name)
    panel, skipped = store_panel(engine, tickers, timeframe, WARMUP + 4 * (config.context + config.horizon))
    tc = TrainConfig(max_epochs=epochs, max_samples_per_epoch=max_samples, seed=seed, batch_size=batch_size)
    key = run_key(panel, config, tc)
    folder = home / "checkpoints" / key[:24]
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        if on_note is not None:
            on_note(message)

    others = [p for p in (home / "checkpoints").glob("*/checkpoint.pt") if p.parent != folder]
    if others:
        note(f"{len(others)} checkpoint(s) of other runs left untouched in {home / 'checkpoints'}")
    trained = fit(panel, config, tc, checkpoint_dir=folder, on_epoch=on_epoch, on_note=note)
    scores = evaluate(trained, panel)
    cal = trained.calibration
    params: dict[str, Any] = {"preset": preset_name, "timeframe": timeframe, "tickers": len(panel.tickers),
                              "status": trained.status, "run_key": key, **config.model_dump(), **tc.model_dump()}
    flat = {f"{name}.{k}": v for name, m in scores.items() for k, v in m.items()}
    if cal is not None:
        flat |= {f"validation.{k}.q_risk_p50": v for k, v in cal.validation_q_risk.items()}
    tags = {"status": trained.status, "beaten_by": ",".join(cal.beaten_by) if cal else ""}
    version = (registry or RegistryRef()).open(home).register(trained, params, flat, tags)
    _clear_checkpoint(folder)
    po = [t for t, m in zip(panel.tickers, _price_only_rows(panel), strict=True) if m]
    return TrainResult(version, timeframe, preset_name, len(panel.tickers), skipped, len(trained.history), scores,
                       trained.history, trained.status, cal.summary() if cal else {},
                       reliability_table(trained, panel), list(trained.schema.absent), po,
                       {"key": key, "resumed_from_epoch": trained.resumed_epoch, "notes": notes})


def _price_only_rows(panel: Panel) -> list[bool]:
    if panel.input_mask is None:
        return [False] * len(panel.tickers)
    return [not bool(row.all()) for row in panel.input_mask]


def _clear_checkpoint(folder: Path) -> None:
    (folder / "checkpoint.pt").unlink(missing_ok=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


@dataclass
class PredictResult:
    """What ``tftrade predict`` reports."""

    model_version: str
    status: str
    predictions: list[Forecast]
    skipped: list[dict[str, str]]
    """Tickers with no forecast, each with the reason."""
    forced: bool = False
    selection: Selection = "named"
    """Why this version: named by the caller, the registry's ``champion``, or the ``newest`` (no champion set)."""


def predict(
    engine: Engine, home: Path, tickers: list[str] | None, version: str | None = None, write: bool = True,
    registry: RegistryRef | None = None, force: bool = False,
) -> PredictResult:
    """Forecast each ticker from its own latest window with a registered model; write to ``tft_predictions``.

    Tickers are grouped by the time of their last bar; a ticker whose last bar is older than the
    universe's latest is forecast from its own window and flagged stale with the bar's age
    (confidence 0). A ticker without enough history is listed under ``skipped``. Forecasts of a
    model marked ``loses_to_baseline`` carry confidence 0 (not for trading) unless ``force``.
    With no ``version``, the registry's champion is used (the newest version while none is set).
    """
    reg = (registry or RegistryRef()).open(home)
    chosen = reg.select(version)
    trained, v = reg.load(chosen.version)
    rows, skipped = predict_loaded(engine, trained, v, tickers, force=force)
    if write:
        write_predictions(engine, rows)
    return PredictResult(v, trained.status, rows, sorted(skipped, key=lambda d: d["ticker"]), force, chosen.selection)


def predict_loaded(
    engine: Engine, trained: Trained, version: str, tickers: list[str] | None, *, force: bool = False,
    bars: pd.DataFrame | None = None,
) -> tuple[list[Forecast], list[dict[str, str]]]:
    """Forecast ``tickers`` (default: the model's universe) with an already loaded model; return forecasts and skips.

    Each ticker is forecast from its own latest window (see :func:`predict`); nothing is written.
    ``bars`` (the frame :func:`tftrade.store.bars.read_bars` returns, holding at least each ticker's
    latest windows) saves reading them from the store: a server keeps them in memory.

    Raises
    ------
    UnknownTickerError
        If a ticker is not in the model's universe.
    """
    wanted = [t.upper() for t in tickers] if tickers else trained.schema.tickers
    unknown = [t for t in wanted if t not in trained.schema.tickers]
    if unknown:
        raise UnknownTickerError(f"ticker(s) {', '.join(unknown)} not in model version {version}'s universe")
    groups, skipped, reference = _latest_windows(engine, wanted, trained.schema.timeframe, trained.config.context,
                                                 bars)
    rows: list[Forecast] = []
    for panel in groups:
        try:
            rows += predict_latest(trained, panel, version, reference)
        except (InsufficientHistoryError, FeatureError) as exc:
            skipped += [{"ticker": t, "reason": str(exc)} for t in panel.tickers]
    if trained.status == "loses_to_baseline" and not force:
        rows = [replace(r, confidence_score=0.0) for r in rows]
    return rows, skipped


def explain_ticker(
    engine: Engine, home: Path, ticker: str, version: str | None = None, registry: RegistryRef | None = None
) -> tuple[Explanation, str]:
    """Explain the registered model at ``ticker``'s latest window."""
    trained, v = (registry or RegistryRef()).open(home).load(version)
    if ticker.upper() not in trained.schema.tickers:
        raise UnknownTickerError(f"ticker {ticker} not in model version {v}'s universe")
    panel = _recent(engine, [ticker.upper()], trained.schema.timeframe, trained.config.context + trained.config.horizon)
    return explain(trained, panel, ticker.upper()), v


def _recent(engine: Engine, tickers: list[str], timeframe: Timeframe, context: int) -> Panel:
    groups, skipped, _ = _latest_windows(engine, tickers, timeframe, context)
    if not groups:
        raise InsufficientHistoryError("; ".join(f"{d['ticker']}: {d['reason']}" for d in skipped))
    return groups[0]


def latest_window_bars(context: int) -> int:
    """How many of a ticker's latest bars a forecast reads (warm-up and context, three times over for gaps)."""
    return 3 * (WARMUP + context)


def _latest_windows(
    engine: Engine, tickers: list[str], timeframe: Timeframe, context: int, bars: pd.DataFrame | None = None,
) -> tuple[list[Panel], list[dict[str, str]], int | None]:
    """Panels of each ticker's latest bars, grouped by the time of the last bar.

    Returns ``(panels, skipped, reference)``: ``reference`` is the universe's latest bar (ns). Within a
    group the bars are pivoted as in training (gaps forward-filled); a ticker whose bars start later
    than the group's window gets a panel of its own bars; one with too few bars is skipped.
    """
    from tftrade.store.securities import read_securities

    if bars is None:
        stored = StoredMarket.read(engine, tickers, timeframe)
    else:
        sectors = {s.ticker: s.sector for s in read_securities(engine) if s.sector is not None}
        stored = StoredMarket.of(engine, bars[bars["ticker"].isin(tickers)], timeframe, sectors)
    bars, sectors, sentiment = stored.bars, stored.sectors, _sentiment(stored)
    if bars.empty:
        raise InsufficientHistoryError(f"no {timeframe} bars stored for {', '.join(tickers)}")
    need, keep = WARMUP + context, latest_window_bars(context)
    last = bars.groupby("ticker")["window_start"].max()
    skipped = [{"ticker": t, "reason": f"no {timeframe} bars stored"} for t in tickers if t not in last.index]
    panels: list[Panel] = []
    for _, members in last.groupby(last):
        names = [str(t) for t in members.index]
        part = bars[bars["ticker"].isin(names)]
        starts = np.sort(part["window_start"].unique())[-keep:]
        part = part[part["window_start"] >= pd.Timestamp(starts[0])]
        first = part.groupby("ticker")["window_start"].min()
        late = [t for t in names if first[t] > pd.Timestamp(starts[0])]
        batches = [[t for t in names if t not in late]] + [[t] for t in late]
        for batch in batches:
            if not batch:
                continue
            own = part[part["ticker"].isin(batch)]
            if own.groupby("ticker").size().min() < need:
                skipped += [{"ticker": t, "reason": f"fewer than {need} bars (warm-up {WARMUP} + context {context}) "
                                                    f"in its latest window"} for t in batch]
                continue
            panels.append(panel_from_bars(own, timeframe, sectors, sentiment))
    reference = int(pd.Timestamp(last.max()).value) if len(last) else None
    return panels, skipped, reference


def _sentiment(stored: StoredMarket) -> SentimentLookup:
    """Sentiment of the stored aggregates for the bars of a panel (zero with flag 0 when absent), read once."""
    return lambda ts, tickers: stored.sentiment.on_bars(ts, tickers, stored.timeframe)


def forecast_dicts(rows: list[Forecast]) -> list[dict[str, Any]]:
    """Return forecasts as plain dicts (for JSON)."""
    return [asdict(r) for r in rows]


__all__ = [
    "ForecastError", "PredictResult", "RegistryRef", "TrainResult", "explain_ticker", "forecast_dicts", "predict",
    "predict_loaded", "store_panel", "train",
]
