"""The ``train``, ``predict`` and ``explain`` workflows on the store, for the CLI and services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from tftrade.core.types import Timeframe
from tftrade.features.dataset import WARMUP, Panel
from tftrade.forecast.data import SentimentLookup, panel_from_bars
from tftrade.forecast.errors import ForecastError, InsufficientHistoryError, UnknownTickerError
from tftrade.forecast.evaluation import evaluate
from tftrade.forecast.explain import Explanation, explain
from tftrade.forecast.prediction import Forecast, predict_latest, write_predictions
from tftrade.forecast.registry import DEFAULT_NAME, ModelRegistry
from tftrade.forecast.store_sentiment import stored_sentiment
from tftrade.forecast.tft.config import preset
from tftrade.forecast.training import TrainConfig, Trained, fit


@dataclass
class TrainResult:
    """What ``tftrade train`` reports."""

    model_version: str
    timeframe: str
    preset: str
    tickers: int
    skipped: list[str]
    epochs: int
    metrics: dict[str, dict[str, float]]
    history: list[dict[str, float]] = field(default_factory=list)


def store_panel(
    engine: Engine, tickers: list[str] | None, timeframe: Timeframe, min_bars: int
) -> tuple[Panel, list[str]]:
    """Read bars from the store and build a panel of the tickers with complete history.

    Sentiment features come from ``reddit_sentiment_aggregated`` when it holds rows for these
    tickers and bars (``1min`` windows for minute bars, ``1h`` for daily bars; see
    :mod:`tftrade.forecast.store_sentiment`); otherwise they are zero with ``sentiment_present`` 0.

    Index and price-only series (``^VIX``, ``^MKT``) are left out. Tickers whose first bar comes
    after the panel's first bar, or with fewer than ``min_bars`` bars, are skipped and listed.

    Raises
    ------
    InsufficientHistoryError
        If no ticker has enough history.
    """
    from tftrade.store.bars import read_bars
    from tftrade.store.securities import read_securities

    bars = read_bars(engine, tickers, timeframe)
    if tickers:
        missing = sorted({t.upper() for t in tickers} - set(bars["ticker"]))
        if missing:
            raise UnknownTickerError(f"no {timeframe} bars stored for {', '.join(missing)}; ingest them first")
    price_only = bars.groupby("ticker")["price_only"].any()
    keep = [str(t) for t, po in price_only.items() if not po and not str(t).startswith("^")]
    bars = bars[bars["ticker"].isin(keep)]
    first = bars.groupby("ticker")["window_start"].min()
    counts = bars.groupby("ticker").size()
    ok = [t for t in keep if first[t] == first.min() and counts[t] >= min_bars] if keep else []
    skipped = sorted(set(keep) - set(ok))
    if not ok:
        raise InsufficientHistoryError(
            f"no {timeframe} ticker has the {min_bars} bars (warm-up + context + splits) training needs"
        )
    sectors = {s.ticker: s.sector for s in read_securities(engine)}
    return panel_from_bars(bars[bars["ticker"].isin(ok)], timeframe, sectors, _sentiment(engine, timeframe)), skipped


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
    registry: RegistryRef | None = None,
) -> TrainResult:
    """Train on stored bars, score against baselines on held-out data, register in MLflow."""
    config = preset(preset_name)
    panel, skipped = store_panel(engine, tickers, timeframe, WARMUP + 4 * (config.context + config.horizon))
    tc = TrainConfig(max_epochs=epochs, max_samples_per_epoch=max_samples, seed=seed, batch_size=batch_size)
    trained = fit(panel, config, tc, checkpoint_dir=home / "checkpoints" / f"{timeframe}-{preset_name}",
                  on_epoch=on_epoch)
    scores = evaluate(trained, panel)
    params: dict[str, Any] = {"preset": preset_name, "timeframe": timeframe, "tickers": len(panel.tickers),
                              **config.model_dump(), **tc.model_dump()}
    flat = {f"{name}.{k}": v for name, m in scores.items() for k, v in m.items()}
    version = (registry or RegistryRef()).open(home).register(trained, params, flat)
    _clear_checkpoint(home / "checkpoints" / f"{timeframe}-{preset_name}")
    return TrainResult(version, timeframe, preset_name, len(panel.tickers), skipped, len(trained.history), scores,
                       trained.history)


def _clear_checkpoint(folder: Path) -> None:
    (folder / "checkpoint.pt").unlink(missing_ok=True)


def predict(
    engine: Engine, home: Path, tickers: list[str] | None, version: str | None = None, write: bool = True,
    registry: RegistryRef | None = None,
) -> tuple[list[Forecast], str]:
    """Forecast the latest bar of each ticker with a registered model; write to ``tft_predictions``."""
    trained, v = (registry or RegistryRef()).open(home).load(version)
    rows = predict_loaded(engine, trained, v, tickers)
    if write:
        write_predictions(engine, rows)
    return rows, v


def predict_loaded(engine: Engine, trained: Trained, version: str, tickers: list[str] | None) -> list[Forecast]:
    """Forecast the latest bar of ``tickers`` (default: the model's universe) with an already loaded model.

    Raises
    ------
    UnknownTickerError
        If a ticker is not in the model's universe.
    """
    wanted = [t.upper() for t in tickers] if tickers else trained.schema.tickers
    unknown = [t for t in wanted if t not in trained.schema.tickers]
    if unknown:
        raise UnknownTickerError(f"ticker(s) {', '.join(unknown)} not in model version {version}'s universe")
    panel = _recent(engine, wanted, trained.schema.timeframe, trained.config.context)
    return predict_latest(trained, panel, version)


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
    from tftrade.store.bars import read_bars
    from tftrade.store.securities import read_securities

    bars = read_bars(engine, tickers, timeframe)
    if bars.empty:
        raise InsufficientHistoryError(f"no {timeframe} bars stored for {', '.join(tickers)}")
    keep = 3 * (WARMUP + context)
    starts = np.sort(bars["window_start"].unique())[-keep:]
    bars = bars[bars["window_start"] >= pd.Timestamp(starts[0])]
    sectors = {s.ticker: s.sector for s in read_securities(engine)}
    return panel_from_bars(bars, timeframe, sectors, _sentiment(engine, timeframe))


def _sentiment(engine: Engine, timeframe: Timeframe) -> SentimentLookup:
    """Sentiment of the stored aggregates for the bars of a panel (zero with flag 0 when absent)."""
    return lambda ts, tickers: stored_sentiment(engine, ts, tickers, timeframe)


def forecast_dicts(rows: list[Forecast]) -> list[dict[str, Any]]:
    """Return forecasts as plain dicts (for JSON)."""
    return [asdict(r) for r in rows]


__all__ = [
    "ForecastError", "RegistryRef", "TrainResult", "explain_ticker", "forecast_dicts", "predict", "predict_loaded",
    "store_panel",
    "train",
]
