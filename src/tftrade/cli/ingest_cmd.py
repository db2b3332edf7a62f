"""``tftrade ingest ...``: bring market data (and securities) into the store."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from tftrade.cli._common import JsonOption, command, emit, engine, progress, settings, stderr, table
from tftrade.core.errors import TftradeError, first_line
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
    table("ingest", [{k: s[k] for k in ("source", "timeframe", "status", "rows_read", "inserted", "duplicates",
                                        "quarantined", "conflicts", "updated", "held_back")}
                     | {"gaps": s["quality"]["missing_bars"], "spikes": s["quality"]["spikes"]} for s in summaries])


def _zone_for(path: Path, tz: str, source_tz: dict[str, str]) -> str:
    """The zone of a file's naive times: the first ``--source-tz`` pattern matching its name or path, else ``--tz``."""
    for pattern, zone in source_tz.items():
        if fnmatch.fnmatch(path.name, pattern) or fnmatch.fnmatch(str(path), pattern):
            return zone
    return tz


def _delimiter(value: str | None) -> str | None:
    if value is None:
        return None
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
    return named.get(value.lower(), value)


@app.command("csv")
@command
def ingest_csv(
    paths: list[Path] = typer.Argument(..., help="CSV (any delimiter, .gz/.bz2/.xz too) or Parquet files of bars."),
    ticker: str | None = typer.Option(
        None, "--ticker", help="Ticker for files without a ticker column (a file's ticker column wins; a warning says "
        "so when it names other tickers)."),
    timeframe: str | None = typer.Option(
        None, "--timeframe", help="1min, 5min, 15min, 30min, 1h or 1day; detected from the bar spacing when omitted, "
        "and refused when the file's spacing differs."),
    mapping: list[str] = typer.Option([], "--map", help="FIELD=COLUMN, e.g. --map window_start=Date (repeatable)."),
    tz: str | None = typer.Option(
        None, "--tz", help="Zone of naive times (times with offsets use their own) [config: ingest.sources; "
        "default America/New_York]."),
    source_tz: list[str] = typer.Option(
        [], "--source-tz", help="PATTERN=ZONE: naive times of files whose name matches PATTERN are in ZONE, "
        "e.g. --source-tz 'vendor_*.csv=UTC' (repeatable; overrides --tz)."),
    session: str = typer.Option("regular", "--session",
                                help="regular (09:30-16:00) or extended (04:00-20:00 New York)."),
    delimiter: str | None = typer.Option(
        None, "--delimiter", help="Field separator (, ; | tab); from ingest.sources, else sniffed, when omitted."),
    no_header: bool = typer.Option(False, "--no-header",
                                   help="The file has no header line; name columns with --columns."),
    columns: str | None = typer.Option(None, "--columns",
                                       help="Column names, comma-separated (with --no-header, or to rename)."),
    date_order: str | None = typer.Option(
        None, "--date-order", help="auto, dmy or mdy for numeric dates like 03/04/2024 [config: ingest.sources; "
        "default auto]."),
    update: bool = typer.Option(False, "--update", help="Apply bars that disagree with stored ones (recorded)."),
    force: bool = typer.Option(False, "--force", help="Store a run whose times look shifted (normally held back)."),
    as_json: bool = JsonOption,
) -> None:
    """Import bar files: validate each row, store good rows, quarantine bad ones, skip rows already stored.

    Each file is one atomic batch, logged in the run log (``tftrade data runs``) with a
    status: ok, or suspect (more than 2 % quarantined, or times that look shifted: then
    nothing is stored without --force, and the likely cause is printed). A bar that
    disagrees with the stored one is a conflict: quarantined, or applied with --update.
    Files matching a pattern of the ``ingest.sources`` setting take its tz, delimiter and
    date order unless the flag is given.
    """
    from tftrade.data.csv_dialect import CsvFormat
    from tftrade.data.ingest import IngestOptions, ingest_file
    from tftrade.data.tabular import ReadOptions
    from tftrade.data.timeframes import parse_bar_timeframe
    from tftrade.data.timestamps import check_zone

    if session not in ("regular", "extended"):
        raise ValueError(f"--session {session!r} is not one of regular, extended")
    if date_order not in (None, "auto", "dmy", "mdy"):
        raise ValueError(f"--date-order {date_order!r} is not one of auto, dmy, mdy")
    cfg = settings()
    tf = parse_bar_timeframe(timeframe) if timeframe else None
    column_map = _parse_map(mapping)
    zones = {k: check_zone(v) for k, v in _parse_pairs(source_tz, "--source-tz", "PATTERN=ZONE").items()}
    names = tuple(c.strip() for c in columns.split(",")) if columns else None
    opts = IngestOptions(session=session, update=update, force=force,  # type: ignore[arg-type]
                         spike_z=cfg.ingest.spike_zscore, batch_rows=cfg.ingest.batch_rows)
    if tz is not None:
        check_zone(tz)
    eng = engine(cfg)
    summaries: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for path in paths:
        source = cfg.ingest.source_for(path)
        fmt = CsvFormat(delimiter=_delimiter(delimiter or source.delimiter), header=not no_header, columns=names)
        zone = _zone_for(path, tz or source.tz or "America/New_York", zones)
        order = date_order or source.date_order or "auto"
        read = ReadOptions(tz=check_zone(zone), date_order=order, csv=fmt)  # type: ignore[arg-type]
        try:
            with progress(f"ingest {path.name}", None) as advance:
                s = ingest_file(eng, path, ticker=ticker, timeframe=tf, column_map=column_map, on_rows=advance,
                                read=read, options=opts)
        except (TftradeError, ValueError) as e:
            if len(paths) == 1:
                raise
            # several files: each is its own batch, so the others are still read and the report says what was stored
            failed.append({"source": str(path), "status": "failed", "error": first_line(e)})
            stderr.print(f"[red]failed:[/red] {escape(failed[-1]['error'])}", highlight=False)
            continue
        summaries.append(s.as_dict())
        if s.ticker_ignored:
            stderr.print(f"[yellow]warning:[/yellow] {escape(path.name)}: {escape(s.ticker_ignored)}", highlight=False,
                         soft_wrap=True)
        if s.status != "ok":
            stderr.print(f"[yellow]{s.status}:[/yellow] {path.name}: {s.cause}", highlight=False, soft_wrap=True)
    emit(summaries[0] if len(paths) == 1 else {"files": summaries, "failed": failed}, as_json,
         lambda _: _render(summaries))
    if failed or any(s["held_back"] for s in summaries):
        raise typer.Exit(1)


def _parse_pairs(pairs: list[str], option: str, shape: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.rpartition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{option} {pair!r} is not {shape}")
        out[key.strip()] = value.strip()
    return out


@app.command("synthetic")
@command
def ingest_synthetic_cmd(
    tickers: int = typer.Option(10, "--tickers", min=1, help="Number of tickers."),
    days: int = typer.Option(20, "--days", min=1, help="Trading sessions."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same market)."),
    timeframe: str = typer.Option("1min", "--timeframe", help="1min, 5min, 15min, 30min, 1h or 1day."),
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
