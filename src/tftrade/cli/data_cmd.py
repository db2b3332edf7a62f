"""``tftrade data ...``: what is in the store."""

from __future__ import annotations

import typer

from tftrade.cli._common import JsonOption, command, emit, engine, table

app = typer.Typer(help="Inspect stored market data and the quarantine.", no_args_is_help=True)


@app.command("summary")
@command
def summary(as_json: bool = JsonOption) -> None:
    """Per ticker and timeframe: rows, first and last bar (UTC), whether prices only."""
    from tftrade.store.bars import bar_summary

    rows = bar_summary(engine())
    emit({"tickers": rows}, as_json, lambda r: table("bars", r["tickers"]))


@app.command("quarantine")
@command
def quarantine(
    limit: int = typer.Option(50, "--limit", min=1, help="Newest rows to show."),
    as_json: bool = JsonOption,
) -> None:
    """Rows rejected at ingest, newest first, each with its source, line and reason."""
    from tftrade.store.runs import list_quarantine

    result = list_quarantine(engine(), limit)
    emit(result, as_json, lambda r: table(f"quarantine ({r['total']} rows in all)",
                                          [{k: row[k] for k in ("source", "row_number", "reason")}
                                           for row in r["rows"]]))


@app.command("runs")
@command
def runs(limit: int = typer.Option(20, "--limit", min=1), as_json: bool = JsonOption) -> None:
    """The ingest-run log: what each ingest read, inserted, skipped, quarantined, found in conflict and updated.

    Status is ok, suspect (too much quarantined, or times that look shifted), failed (with the
    error), aborted (the process died mid-way) or running; ``cause`` says why a run is not ok.
    """
    from tftrade.store.runs import list_runs

    rows = [{**row, "cause": row.get("error")} for row in list_runs(engine(), limit)]
    emit({"runs": rows}, as_json, lambda r: table("ingest runs", [
        {k: row.get(k) for k in ("id", "kind", "source", "status", "rows_read", "inserted", "duplicates",
                                 "quarantined", "conflicts", "updated")} | {"cause": _short(row["cause"])}
        for row in r["runs"]]))


def _short(text: str | None, width: int = 80) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"
