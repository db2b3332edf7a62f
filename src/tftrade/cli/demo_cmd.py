"""``tftrade demo``: the main job on embedded defaults (no servers, no keys)."""

from __future__ import annotations

from dataclasses import asdict

import typer

from tftrade.cli._common import JsonOption, command, emit, engine, progress, settings, table


def register(app: typer.Typer) -> None:
    """Add ``tftrade demo`` to the top-level app."""
    app.command("demo")(demo)


@command
def demo(
    tickers: int = typer.Option(10, "--tickers", min=1, help="Tickers in the synthetic market."),
    days: int = typer.Option(20, "--days", min=1, help="Trading sessions of minute bars."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = JsonOption,
) -> None:
    """Run what exists end to end: database, synthetic market, ingest, comments scored and aggregated.

    Later stages (TFT training, walk-forward prediction, backtest, report) join this command as they land.
    """
    from tftrade.core.config import mask_url
    from tftrade.data.ingest import ingest_synthetic
    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.sentiment.pipeline import aggregate_store, ingest_synthetic_comments
    from tftrade.sentiment.scorer import make_scorer
    from tftrade.store.bars import bar_summary

    cfg = settings()
    eng = engine(cfg)
    market = generate_market(SyntheticConfig(n_tickers=tickers, days=days, seed=seed))
    with progress("ingest synthetic market", market.close.size) as advance:
        s = ingest_synthetic(eng, market, batch_rows=cfg.ingest.batch_rows, on_rows=advance)
    with progress("score and aggregate comments", None):
        comments = ingest_synthetic_comments(eng, market.comments, [(x.ticker, x.name) for x in market.securities],
                                             make_scorer(cfg.sentiment.scorer))
        agg, _ = aggregate_store(eng, "5min")
    result = {"database": mask_url(cfg.resolved_database_url()), "ingest": s.as_dict(),
              "comments": asdict(comments), "sentiment_5min": asdict(agg), "bars": bar_summary(eng)}

    def render(r: dict) -> None:  # type: ignore[type-arg]
        print(f"database: {r['database']}")
        print(f"ingested {s.inserted} bars ({s.duplicates} already stored, {s.quarantined} quarantined)")
        print(f"comments: {len(market.comments)} generated; sentiment aggregated into {agg.rows_written} "
              f"5-minute ticker windows ({agg.mentions} mentions, {agg.empty_windows} empty windows)")
        table("bars in the store", r["bars"])

    emit(result, as_json, render)
