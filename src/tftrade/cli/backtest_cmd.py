"""``tftrade backtest`` and ``tftrade report``: run the trading core on stored bars, render the tearsheet."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from tftrade.cli._common import JsonOption, command, emit, engine, progress, settings, stderr, table, tune_compute
from tftrade.core.types import parse_timeframe


def register(app: typer.Typer) -> None:
    """Add ``backtest`` and ``report`` to the top-level app."""
    app.command("backtest")(backtest)
    app.command("report")(report)


@command
def backtest(
    tickers: list[str] | None = typer.Argument(None, help="Universe (default: every stored ticker)."),
    timeframe: str = typer.Option("1day", "--timeframe", help="1min or 1day."),
    start: datetime | None = typer.Option(None, "--start", help="First bar traded (naive = New York time); "
                                          "the TFT trains on the bars before it."),
    end: datetime | None = typer.Option(None, "--end", help="Only bars before this time (naive = New York time)."),
    strategy: str = typer.Option("tft", "--strategy", help="tft (forecasts + sentiment → Black–Litterman) or sma."),
    epochs: int = typer.Option(5, "--epochs", min=1, help="TFT training epochs (tft strategy)."),
    max_samples: int = typer.Option(20_000, "--max-samples", min=1, help="TFT training windows per epoch."),
    preset: str = typer.Option("default", "--preset", help="TFT preset: default or institutional."),
    rebalance_every: int = typer.Option(5, "--rebalance-every", min=1, help="Decide every k-th bar."),
    cash: float = typer.Option(1_000_000.0, "--cash", min=1.0, help="Initial cash."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = JsonOption,
) -> None:
    """Backtest a strategy on the stored bars; save the run and its trades (report it with `tftrade report`)."""
    cfg = settings()
    tune_compute(cfg)
    eng = engine(cfg)
    result = run_and_save(eng, cfg.home, tickers=tickers or None, timeframe=parse_timeframe(timeframe), start=start,
                          end=end, strategy=strategy, epochs=epochs, max_samples=max_samples, preset=preset,
                          rebalance_every=rebalance_every, cash=cash, seed=seed)
    emit(result, as_json, render_summary)


def run_and_save(eng: Any, home: Path, *, tickers: list[str] | None, timeframe: Any, start: datetime | None,
                 end: datetime | None, strategy: str, epochs: int, max_samples: int, preset: str,
                 rebalance_every: int, cash: float, seed: int) -> dict[str, Any]:
    """Run a store backtest with progress on stderr, save it and its trades; return the summary."""
    from tftrade.backtest import BacktestConfig
    from tftrade.backtest.runs import new_run_id, save_run
    from tftrade.backtest.workflow import ForecastSetup, backtest_store
    from tftrade.store.trades import write_trades

    run_id = new_run_id(strategy)
    config = BacktestConfig(initial_cash=cash, rebalance_every=rebalance_every, strategy_version=run_id)

    def epoch(row: dict[str, float]) -> None:
        stderr.print(f"TFT epoch {int(row['epoch'])}: train {row['train_loss']:.4f}  val {row['val_loss']:.4f}")

    with progress(f"backtest ({strategy})", None) as advance:
        run = backtest_store(eng, timeframe=timeframe, start=start, end=end, tickers=tickers, strategy=strategy,
                             forecast=ForecastSetup(preset=preset, epochs=epochs, max_samples=max_samples, seed=seed),
                             config=config, on_epoch=epoch, on_step=lambda _t: advance(1))
    path = save_run(home, run, run_id)
    stored = write_trades(eng, run.result.trades)
    return {"run_id": run_id, "path": str(path), "trades_stored": stored, **run.result.summary()}


def render_summary(r: dict[str, Any]) -> None:
    """Print a run's headline numbers and its metrics next to the benchmark's."""
    print(f"backtest {r['run_id']}: {r['tickers']} tickers, {r['bars']} bars from {r['start']} to {r['end']}")
    bench_total = r.get("benchmark_total_return")
    print(f"total return {r['total_return']:+.2%}" + ("" if bench_total is None else
                                                     f" (benchmark {bench_total:+.2%}); annualised figures below "
                                                     f"extrapolate {r['bars']} bars to a year"))
    print(f"equity {r['initial_equity']:,.0f} -> {r['final_equity']:,.2f}; {r['decisions']} decisions, "
          f"{r['trades']} trades, {r['gate_events']} orders resized or rejected by the risk gate")
    bench = r.get("benchmark_metrics") or {}
    table(f"metrics vs benchmark {r.get('benchmark') or '(none)'}",
          [{"metric": k, "strategy": _fmt(v), "benchmark": _fmt(bench.get(k))} for k, v in r["metrics"].items()])
    for note in r.get("notes", [])[:10]:
        print(f"note: {note}")
    print(f"saved to {r['path']}; render the tearsheet with: tftrade report {r['run_id']}")


def _fmt(v: Any) -> str:
    return "n/a" if v is None or v != v else f"{v:.4f}"


@command
def report(
    run_id: str | None = typer.Argument(None, help="Run to report (default: the latest)."),
    out: Path | None = typer.Option(None, "--out", help="HTML file to write (default: in the run's folder)."),
    as_json: bool = JsonOption,
) -> None:
    """Render a backtest run's self-contained HTML tearsheet (works offline)."""
    from tftrade.backtest.report import render_run
    from tftrade.backtest.runs import load_run

    run = load_run(settings().home, run_id)
    path = render_run(run, out)
    emit({"run_id": run.run_id, "report": str(path), "bytes": path.stat().st_size}, as_json,
         lambda r: print(f"report of {r['run_id']}: {r['report']}"))
