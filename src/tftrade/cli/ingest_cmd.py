"""``tftrade ingest ...``: bring market data (and securities) into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tftrade.cli._common import JsonOption, command, emit, engine, progress, settings, table
from tftrade.core.types import parse_timeframe

app = typer.Typer(help="Load bars, securities and comments into the store.", no_args_is_help=True)


def _parse_map(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise ValueError(f"--map {pair!r} is not FIELD=COLUMN (e.g. window_start=Date)")
        out[field.strip()] = column.strip()
    return out


def _render(summaries: list[dict[str, Any]]) -> None:
    table("ingest", [{k: s[k] for k in ("source", "timeframe", "rows_read", "inserted", "duplicates", "quarantined")}
                     | {"gaps": s["quality"]["missing_bars"], "spikes": s["quality"]["spikes"]} for s in summaries])


@app.command("csv")
@command
def ingest_csv(
    paths: list[Path] = typer.Argument(..., help="CSV, CSV.gz or Parquet files of bars."),
    ticker: str | None = typer.Option(None, "--ticker", help="Ticker for files without a ticker column."),
    timeframe: str | None = typer.Option(None, "--timeframe", help="1min or 1day (inferred when omitted)."),
    mapping: list[str] = typer.Option([], "--map", help="FIELD=COLUMN, e.g. --map window_start=Date (repeatable)."),
    as_json: bool = JsonOption,
) -> None:
    """Import bar files: validate each row, store good rows, quarantine bad ones, skip rows already stored.

    Each file is one atomic batch. Headers are recognised case-insensitively; naive
    times are New York time. Price-only files become bars with O=H=L=C, volume 0.
    """
    from tftrade.data.ingest import ingest_file

    cfg = settings()
    eng = engine(cfg)
    tf = parse_timeframe(timeframe) if timeframe else None
    column_map = _parse_map(mapping)
    summaries = []
    for path in paths:
        with progress(f"ingest {path.name}", None) as advance:
            s = ingest_file(eng, path, ticker=ticker, timeframe=tf, column_map=column_map,
                            spike_z=cfg.ingest.spike_zscore, batch_rows=cfg.ingest.batch_rows, on_rows=advance)
        summaries.append(s.as_dict())
    emit(summaries[0] if len(summaries) == 1 else {"files": summaries}, as_json,
         lambda _: _render(summaries))


@app.command("synthetic")
@command
def ingest_synthetic_cmd(
    tickers: int = typer.Option(10, "--tickers", min=1, help="Number of tickers."),
    days: int = typer.Option(20, "--days", min=1, help="Trading sessions."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same market)."),
    timeframe: str = typer.Option("1min", "--timeframe", help="1min or 1day."),
    as_json: bool = JsonOption,
) -> None:
    """Generate a synthetic market with planted structure and store it (securities, bars, ^VIX, ^MKT)."""
    from tftrade.data.ingest import ingest_synthetic
    from tftrade.data.synthetic import SyntheticConfig, generate_market

    cfg = settings()
    eng = engine(cfg)
    market = generate_market(SyntheticConfig(n_tickers=tickers, days=days, seed=seed,
                                             timeframe=parse_timeframe(timeframe)))
    with progress("ingest synthetic", market.close.size) as advance:
        s = ingest_synthetic(eng, market, batch_rows=cfg.ingest.batch_rows, on_rows=advance)
    result = s.as_dict() | {"tickers": market.tickers, "comments_generated": len(market.comments),
                            "planted": {"sentiment_lead_bars": market.planted.sentiment_lead,
                                        "sentiment_r2": market.planted.sentiment_r2,
                                        "market_beta": dict(zip(market.tickers, market.planted.market_beta.round(3),
                                                                strict=True))}}
    emit(result, as_json, lambda _: _render([s.as_dict()]))


@app.command("securities")
@command
def ingest_securities(
    path: Path = typer.Argument(..., help="CSV with Symbol/ticker, Name and Sector (and optional market cap)."),
    as_json: bool = JsonOption,
) -> None:
    """Load the securities master (ticker, name, sector, market cap) from a CSV such as S&P constituents."""
    from tftrade.data.securities_file import read_securities_file
    from tftrade.store.securities import upsert_securities

    items = read_securities_file(path)
    eng = engine()
    with eng.begin() as conn:
        written = upsert_securities(conn, items)
    emit({"source": str(path), "securities": written}, as_json, lambda r: print(f"{r['securities']} securities"))
