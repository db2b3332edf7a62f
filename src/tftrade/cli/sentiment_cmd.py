"""``tftrade sentiment ...``: score, aggregate, momentum, train; and ``tftrade ingest comments``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from tftrade.cli._common import JsonOption, command, emit, engine, settings, stderr, table
from tftrade.core.errors import DataError, first_line

app = typer.Typer(help="Score comments, aggregate sentiment per ticker and window, train the learned scorer.",
                  no_args_is_help=True)

DEFAULT_SCORER = "lexicon"
COMMENT_SCORER = "social"
"""Default for comment sources (Reddit, StockTwits): the scorer trained on social text."""


def _scorer_name(name: str | None, default: str = DEFAULT_SCORER) -> str:
    """The scorer asked for, else ``sentiment.scorer`` when the configuration sets it, else ``default``."""
    if name:
        return name
    section = getattr(settings(), "sentiment", None)
    if section is not None and "scorer" in getattr(section, "model_fields_set", ()):
        return str(section.scorer)
    return default


ScorerOption = typer.Option(None, "--scorer",
                            help="social (default: trained on StockTwits), lexicon (fast) or learned (news).")


def _read_texts(texts: list[str] | None, file: str | None) -> list[str]:
    """Texts from the arguments, plus one per line from FILE or stdin (``-``); blank lines are skipped."""
    import sys

    from tftrade.data.comments import decode_text

    out: list[str] = []
    sources = ([file] if file is not None else []) + [t for t in texts or [] if t == "-"]
    for src in dict.fromkeys(sources):
        if src == "-":
            stdin = getattr(sys.stdin, "buffer", None)
            data = stdin.read() if stdin is not None else sys.stdin.read().encode("utf-8", "surrogateescape")
        else:
            path = Path(src)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such file of texts")
            data = path.read_bytes()
        # UTF-8, else Windows-1252; a stray byte in a UTF-8 text is shown as U+FFFD (the scorers need Unicode)
        text = decode_text(data, stray="replace")
        out.extend(line for line in text.replace("\r\n", "\n").split("\n") if line.strip())
    out.extend(t for t in texts or [] if t != "-")
    if not out:
        raise ValueError("no texts to score: give TEXT..., --file PATH or - (stdin), one text per line")
    return out


@app.command("score", context_settings={"ignore_unknown_options": True})
@command
def score(
    texts: list[str] | None = typer.Argument(
        None, help="Texts to score; '-' reads one text per line from stdin. Texts may start with '-' "
                   "(use '--' before one that is also an option name, e.g. -- --json)."),
    file: str | None = typer.Option(None, "--file", help="Read one text per line from this file ('-': stdin)."),
    scorer: str | None = ScorerOption,
    as_json: bool = JsonOption,
) -> None:
    """Score TEXT...: sentiment in [-1, 1], label (±0.3), weight (low for a foreign language) and tickers."""
    from tftrade.sentiment.language import language_weights
    from tftrade.sentiment.scorer import label_of, make_scorer
    from tftrade.sentiment.tickers import TickerExtractor

    items = _read_texts(texts, file)
    s = make_scorer(_scorer_name(scorer, COMMENT_SCORER))
    extractor = TickerExtractor.default()
    scores = s.score(items)
    weights = language_weights(items)
    rows = [{"text": t, "score": round(float(v), 3), "label": label_of(float(v)), "weight": float(w),
             "tickers": list(extractor.extract(t))} for t, v, w in zip(items, scores, weights, strict=True)]
    emit({"scorer": s.name, "results": rows}, as_json, lambda r: table(f"sentiment ({r['scorer']})", r["results"]))


@app.command("aggregate")
@command
def aggregate_cmd(
    window: str = typer.Option("5min", "--window", help="1min, 5min, 1h or 1d."),
    ticker: str | None = typer.Option(None, "--ticker", help="Only this ticker."),
    as_json: bool = JsonOption,
) -> None:
    """Aggregate stored, scored comments per ticker and window into reddit_sentiment_aggregated."""
    from tftrade.sentiment.pipeline import aggregate_store

    run, _ = aggregate_store(engine(), window, ticker)
    emit(run, as_json, lambda r: table("sentiment aggregate", [_flat(asdict(r))]))


@app.command("momentum")
@command
def momentum_cmd(
    window: str = typer.Option("5min", "--window", help="1min, 5min, 1h or 1d."),
    ticker: str | None = typer.Option(None, "--ticker", help="Only this ticker."),
    last: int = typer.Option(1, "--last", min=1, help="Latest windows per ticker to show."),
    store: bool = typer.Option(True, "--store/--no-store",
                               help="Upsert the rows into reddit_sentiment_momentum (default) or only show them."),
    as_json: bool = JsonOption,
) -> None:
    """Compute volume z-score, EWMA crossover and bursts from the stored aggregates; store and show them."""
    from tftrade.sentiment.pipeline import momentum_store

    rows, written = momentum_store(engine(), window, ticker, store=store)
    shown = rows.round({"volume_z": 3, "ewma_fast": 3, "ewma_slow": 3})
    latest = shown.groupby("ticker").tail(last).to_dict("records") if len(rows) else []
    emit({"window": window, "rows_written": written, "rows": latest}, as_json,
         lambda r: table(f"sentiment momentum ({window}, {r['rows_written']} rows stored)", r["rows"]))


@app.command("train")
@command
def train(
    out: Path | None = typer.Option(None, "--out", help="Where to write the adapter (default: the shipped asset)."),
    seed: int = typer.Option(0, "--seed"),
    epochs: int = typer.Option(3, "--epochs", min=1),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Train on a seeded subset of this many texts."),
    valid_limit: int | None = typer.Option(None, "--valid-limit", min=1,
                                           help="Report on a seeded subset of this many validation texts."),
    threads: int = typer.Option(1, "--threads", min=1,
                                help="Torch threads; the shipped adapter was trained with 1 (the float "
                                     "summation order, hence the exact weights, depend on it)."),
    as_json: bool = JsonOption,
) -> None:
    """Fine-tune MiniLM's top layers (LoRA) and a head on sent_train.csv; report accuracy on sent_valid.csv."""
    from tftrade.sentiment.evaluation import train_and_save

    stderr.print("fine-tuning MiniLM's top layers on the training set (minutes on CPU)...")
    report = train_and_save(out, seed=seed, epochs=epochs, limit=limit, valid_limit=valid_limit, threads=threads)
    emit(report, as_json, lambda r: table("sentiment train", [asdict(r)]))


@app.command("train-social")
@command
def train_social(
    out: Path | None = typer.Option(None, "--out", help="Where to write the model (default: the shipped asset)."),
    limit: int | None = typer.Option(None, "--limit", min=50,
                                     help="Use only the first N tagged messages in time (quick runs)."),
    threads: int = typer.Option(1, "--threads", min=1, help="Torch threads for the MiniLM encoders."),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines",
                                   help="Also report the lexicon and learned scorers on the held-out fifth."),
    as_json: bool = JsonOption,
) -> None:
    """Train the social scorer on StockTwits' first four fifths in time; report on the last fifth."""
    from tftrade.sentiment.social_train import train_and_save_social

    stderr.print("encoding the StockTwits messages with two MiniLM encoders (minutes on CPU)...")
    report = train_and_save_social(out, threads=threads, limit=limit, baselines=baselines)
    emit(report, as_json, lambda r: table("sentiment train-social (held-out last fifth in time)",
                                          [asdict(r.heldout), *(asdict(b) for b in r.baselines)]))


@command
def ingest_comments(
    paths: list[Path] = typer.Argument(..., help="JSONL/NDJSON/JSON/CSV comment files (optionally .gz)."),
    scorer: str | None = ScorerOption,
    update: bool = typer.Option(False, "--update", help="Apply comments that disagree with the stored one of the "
                                "same id (text, time, score...; recorded in comment_corrections)."),
    as_json: bool = JsonOption,
) -> None:
    """Import comment files: find tickers, score, store; malformed records are quarantined.

    A comment whose id is stored with other text, time or score is a conflict: counted,
    quarantined with both values, or applied with --update. Each file is one atomic run.
    """
    from tftrade.data.comments import ingest_comments as ingest
    from tftrade.data.comments import read_comment_file
    from tftrade.sentiment.pipeline import annotator, extractor_from_store
    from tftrade.sentiment.scorer import make_scorer

    eng = engine()
    annotate = annotator(extractor_from_store(eng), make_scorer(_scorer_name(scorer, COMMENT_SCORER)))
    reports: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for p in paths:
        try:
            r = ingest(eng, read_comment_file(p), str(p), annotate, update=update)
        except DataError as e:
            if len(paths) == 1:
                raise
            # several files: each is its own run, so one that cannot be read does not stop the others
            failed.append({"source": str(p), "status": "failed", "error": first_line(e)})
            stderr.print(f"[red]failed:[/red] {escape(failed[-1]['error'])}", highlight=False)
            continue
        reports.append(asdict(r) | {"status": r.status})
        if r.conflicts and not update:
            stderr.print(f"[yellow]conflicts:[/yellow] {escape(p.name)}: {r.conflicts} comments differ from the stored "
                         "ones of the same id; quarantined (see tftrade data quarantine); --update applies them",
                         highlight=False, soft_wrap=True)
        if r.status != "ok":
            top = max(r.reasons.items(), key=lambda kv: kv[1])
            stderr.print(f"[yellow]{r.status}:[/yellow] {escape(p.name)}: {r.quarantined} of {r.rows_read} records "
                         f"quarantined; most common reason: {escape(top[0])} ({top[1]}); see tftrade data quarantine",
                         highlight=False, soft_wrap=True)
    emit({"files": reports} | ({"failed": failed} if failed else {}), as_json,
         lambda r: table("ingest comments", [_flat(x) for x in r["files"]]))
    if failed:
        raise typer.Exit(1)


def _flat(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update({f"{k}.{kk}": vv for kk, vv in v.items()} if k != "reasons" else {k: v})
        else:
            out[k] = v
    return out
