"""``tftrade train | predict | explain``: the Temporal Fusion Transformer."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import typer

from tftrade.cli._common import JsonOption, command, emit, engine, progress, settings, stderr, table, tune_compute
from tftrade.core.config import Settings
from tftrade.core.types import parse_timeframe

if TYPE_CHECKING:
    from tftrade.forecast.workflows import RegistryRef


def register(app: typer.Typer) -> None:
    """Add the forecasting commands to the top-level app."""
    app.command("train")(train)
    app.command("predict")(predict)
    app.command("explain")(explain)


@command
def train(
    tickers: list[str] | None = typer.Argument(None, help="Tickers to train on (default: every stored ticker)."),
    timeframe: str = typer.Option("1min", "--timeframe", help="1min, 5min, 15min, 30min, 1h or 1day."),
    preset: str | None = typer.Option(
        None, "--preset", help="default (CPU serving) or institutional (hidden 256) [config: forecast.preset]."
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", min=1, help="Maximum epochs, early stopping may end sooner [config: forecast.epochs]."
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", min=1, help="Training windows per step [config: forecast.batch_size]."
    ),
    max_samples: int | None = typer.Option(None, "--max-samples", min=1, help="Training windows per epoch."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = JsonOption,
) -> None:
    """Train a TFT on stored bars, compare it with baselines on held-out data, and register it."""
    from tftrade.forecast import workflows

    cfg = settings()
    fc = cfg.forecast
    preset, epochs = preset or fc.preset, epochs or fc.epochs
    tune_compute(cfg)

    with progress("training epochs", epochs) as advance:

        def log(row: dict[str, float]) -> None:
            stderr.print(f"epoch {int(row['epoch'])}: train {row['train_loss']:.4f}  val {row['val_loss']:.4f}")
            advance(1)

        result = workflows.train(engine(cfg), cfg.home, tickers or None, parse_timeframe(timeframe), preset, epochs,
                                 max_samples, seed, on_epoch=log, batch_size=batch_size or fc.batch_size,
                                 registry=_registry(cfg), on_note=lambda m: stderr.print(f"checkpoint: {m}"))

    def render(r: workflows.TrainResult) -> None:
        print(f"model version {r.model_version}: {r.tickers} tickers, {r.timeframe}, preset {r.preset}, "
              f"{r.epochs} epochs, status {r.status}")
        if r.status != "ok":
            print(f"warning: beaten on validation by {', '.join(r.skill.get('beaten_by', []))}: registered but marked; "
                  "its forecasts are not traded unless forced (predict --force)")
        for s in r.skipped:
            print(f"skipped {s['ticker']}: {s['reason']}")
        if r.price_only:
            print(f"price-only series (OHLC/volume inputs masked): {', '.join(r.price_only)}")
        if r.absent_inputs:
            print(f"absent inputs (left out of selection): {', '.join(r.absent_inputs)}")
        table("held-out metrics (cumulative log returns)", [{"model": k, **_round(v)} for k, v in r.metrics.items()])
        table("skill per horizon (validation)", r.skill.get("horizons", []))
        table("reliability of the confidence (test windows)", r.reliability)

    emit(asdict(result), as_json, lambda r: render(result))


@command
def predict(
    tickers: list[str] | None = typer.Argument(None, help="Tickers (default: the model's universe)."),
    version: str | None = typer.Option(None, "--version",
                                       help="Registered model version (default: the champion, else the newest)."),
    force: bool = typer.Option(
        False, "--force", help="Keep the confidences of a model marked loses_to_baseline (otherwise 0: not traded)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Forecast each ticker's next 1..H bars from its own latest window and store them in tft_predictions.

    Tickers whose last bar is older than the universe's latest are flagged stale (with the bar's
    age) and get confidence 0; tickers without enough history are listed under skipped.
    """
    from tftrade.forecast import workflows

    cfg = settings()
    tune_compute(cfg)
    res = workflows.predict(engine(cfg), cfg.home, tickers or None, version, registry=_registry(cfg), force=force)
    v = res.model_version
    result = {"model_version": v, "selection": res.selection, "status": res.status, "forced": res.forced,
              "predictions": workflows.forecast_dicts(res.predictions), "skipped": res.skipped}

    def render(r: dict[str, Any]) -> None:
        if r["status"] != "ok":
            print(f"warning: model {v} is marked {r['status']}: "
                  + ("confidences kept (--force)" if r["forced"] else "confidences set to 0 (not for trading)"))
        why = {"champion": "the champion", "newest": "the newest; no champion set", "named": "as named"}
        table(f"predictions (model {v}, {why[r['selection']]})", [
            {k: (round(x, 5) if isinstance(x, float) else x) for k, x in p.items() if k not in ("features_hash",)}
            for p in r["predictions"]
        ])
        for s in r["skipped"]:
            print(f"skipped {s['ticker']}: {s['reason']}")

    emit(result, as_json, render)


@command
def explain(
    ticker: str = typer.Argument(..., help="Ticker to explain."),
    version: str | None = typer.Option(None, "--version",
                                       help="Registered model version (default: the champion, else the newest)."),
    as_json: bool = JsonOption,
) -> None:
    """Show variable importance (static, encoder, decoder) and attention over past steps for TICKER."""
    from tftrade.forecast import workflows

    cfg = settings()
    tune_compute(cfg)
    exp, v = workflows.explain_ticker(engine(cfg), cfg.home, ticker, version, registry=_registry(cfg))
    result = {"ticker": ticker.upper(), "model_version": v, **asdict(exp)}

    def render(r: dict[str, Any]) -> None:
        for part in ("static", "encoder", "decoder"):
            ranked = sorted(r[part].items(), key=lambda kv: -kv[1])
            table(f"{part} variable importance", [{"variable": k, "weight": round(w, 4)} for k, w in ranked])
        if r["absent"]:
            print("absent from the training data (not selected):", ", ".join(r["absent"]))
        print("attention over past steps (oldest → origin):", ", ".join(f"{a:.3f}" for a in r["attention"]))

    emit(result, as_json, render)


def _registry(cfg: Settings) -> RegistryRef:
    from tftrade.forecast.workflows import RegistryRef

    return RegistryRef(cfg.forecast.model_name, cfg.forecast.tracking_uri(cfg.home))


def _round(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in metrics.items()}
