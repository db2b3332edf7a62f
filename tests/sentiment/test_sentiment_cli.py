"""The CLI: score, ingest comments, aggregate, momentum, each with --json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tftrade.cli import app
from tftrade.cli.sentiment_cmd import ingest_comments

pytestmark = pytest.mark.usefixtures("initialized_home")

runner = CliRunner()
ingest_app = typer.Typer()
ingest_app.command("comments")(ingest_comments)
ingest_app.command("noop", hidden=True)(lambda: None)


def _json(target: typer.Typer, *args: str) -> Any:
    result = runner.invoke(target, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_score_json() -> None:
    out = _json(app, "sentiment", "score", "$TSLA to the moon 🚀", "IT is ON, puts on NVDA", "meh",
                "--scorer", "lexicon")
    assert out["scorer"] == "lexicon"
    labels = [(r["label"], r["tickers"]) for r in out["results"]]
    assert labels == [("bullish", ["TSLA"]), ("bearish", ["NVDA"]), ("neutral", [])]


def test_score_defaults_to_social_and_weighs_foreign_text_low() -> None:
    out = _json(app, "sentiment", "score", "$TSLA to the moon 🚀", "großartig, kaufen!")
    assert out["scorer"] == "social"
    (moon, german) = out["results"]
    assert moon["label"] == "bullish" and moon["score"] > 0.5 and moon["weight"] == 1.0
    assert german["score"] == 0.0 and german["label"] == "neutral" and german["weight"] == 0.1


def test_score_reads_stdin_a_file_and_texts_starting_with_a_dash(tmp_path: Path) -> None:
    texts = "-5% today on $AAPL, dumping\n\n$NVDA to the moon 🚀\n--worst stock ever, selling $AMD\n"
    result = runner.invoke(app, ["sentiment", "score", "-", "--scorer", "lexicon", "--json"], input=texts)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert [r["text"] for r in rows] == ["-5% today on $AAPL, dumping", "$NVDA to the moon 🚀",
                                         "--worst stock ever, selling $AMD"]
    assert [r["label"] for r in rows] == ["bearish", "bullish", "bearish"]
    path = tmp_path / "texts.txt"
    path.write_text(texts, encoding="utf-8")
    from_file = _json(app, "sentiment", "score", "--file", str(path), "--scorer", "lexicon")["results"]
    assert from_file == rows
    dashed = _json(app, "sentiment", "score", "-3% and falling, puts", "--scorer", "lexicon")["results"]
    assert dashed[0]["text"] == "-3% and falling, puts" and dashed[0]["label"] == "bearish"
    result = runner.invoke(app, ["sentiment", "score", "--scorer", "lexicon", "--json", "--", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["results"][0]["text"] == "--json"


def test_score_without_texts_or_with_a_missing_file_is_one_line() -> None:
    result = runner.invoke(app, ["sentiment", "score", "--scorer", "lexicon"], input="")
    assert result.exit_code == 1 and "no texts to score" in result.output
    result = runner.invoke(app, ["sentiment", "score", "--file", "/nonexistent/texts.txt"])
    assert result.exit_code == 1 and "no such file of texts" in result.output


def test_ingest_aggregate_momentum(tmp_path: Path) -> None:
    rows = [{"id": f"c{k}", "body": f"$AMD {'calls, to the moon' if k % 2 else 'puts, dumping'}",
             "author": f"u{k}", "created_utc": 1704207600 + 30 * k, "score": k} for k in range(40)]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n", encoding="utf-8")
    first = _json(ingest_app, "comments", str(path), "--scorer", "lexicon")["files"][0]
    assert (first["inserted"], first["quarantined"], first["mentions"]) == (40, 1, 40)
    assert _json(ingest_app, "comments", str(path), "--scorer", "lexicon")["files"][0]["duplicates"] == 40
    agg = _json(app, "sentiment", "aggregate", "--window", "5min")
    assert (agg["mentions"], agg["tickers"], agg["rows_written"]) == (40, 1, 4)
    assert agg["noise"]["comments"] == 40
    mom = _json(app, "sentiment", "momentum", "--window", "5min", "--last", "2")
    assert len(mom["rows"]) == 2 and mom["rows"][0]["ticker"] == "AMD"
    assert mom["rows_written"] == 4 and set(mom["rows"][0]) >= {"window_start", "ewma_fast", "crossover", "burst"}
    assert _json(app, "sentiment", "momentum", "--window", "5min", "--no-store")["rows_written"] == 0
    from tftrade.cli._common import engine
    from tftrade.store.momentum import read_momentum

    stored = read_momentum(engine(), ["AMD"], "5min")
    assert len(stored) == 4 and stored["window"].eq("5min").all()


def test_errors_are_one_line() -> None:
    result = runner.invoke(app, ["sentiment", "aggregate", "--window", "2min"])
    assert result.exit_code == 1 and "unknown window '2min'" in result.output
    result = runner.invoke(app, ["sentiment", "score", "x", "--scorer", "vibes"])
    assert result.exit_code == 1 and "unknown scorer" in result.output


def test_train_on_a_small_subset(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "adapter.npz"
    report = _json(app, "sentiment", "train", "--limit", "64", "--valid-limit", "40", "--epochs", "1",
                   "--threads", "1", "--out", str(out))
    assert report["path"] == str(out) and out.stat().st_size == report["adapter_bytes"] < 2_000_000
    assert (report["n_train"], report["n_valid"], len(report["epoch_losses"])) == (64, 40, 1)
    assert 0.0 <= report["accuracy"] <= 1.0
    scored = _json(app, "sentiment", "score", "shares plunge", "--scorer", "learned")
    assert scored["scorer"] == "learned" and -1.0 <= scored["results"][0]["score"] <= 1.0


def test_ingest_hostile_records_without_traceback(tmp_path: Path) -> None:
    rows = [{"id": "ok1", "body": "$AMD calls", "created_utc": 1704207600},
            {"id": "big", "body": "$AMD", "created_utc": 1704207600, "score": 1e30},
            {"id": "nul", "body": "$AMD \u0000", "created_utc": 1704207600},
            {"id": "y" * 300, "body": "$AMD", "created_utc": 1704207600},
            {"id": "ok2", "body": "$AMD puts", "created_utc": 1704207660}]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    report = _json(ingest_app, "comments", str(path), "--scorer", "lexicon")["files"][0]
    assert (report["inserted"], report["quarantined"]) == (2, 3)
    assert report["reasons"] == {"score": 1, "body": 1, "id": 1}
    csv_path = tmp_path / "noid.csv"
    csv_path.write_text('author,created_utc,body\nu1,1704207600,"$AMD calls"\n', encoding="utf-8")
    report = _json(ingest_app, "comments", str(csv_path), "--scorer", "lexicon")["files"][0]
    assert (report["inserted"], report["quarantined"]) == (1, 0)


def test_train_social_on_a_small_subset(tmp_path: Path, shared_data: Path) -> None:
    from tftrade.sentiment.social import SocialScorer

    out = tmp_path / "social.npz"
    report = _json(app, "sentiment", "train-social", "--limit", "400", "--no-baselines", "--out", str(out))
    assert report["path"] == str(out) and out.stat().st_size == report["model_bytes"] < 3_000_000
    assert report["n_train"] == 320 and report["heldout"]["n"] == 80 and report["baselines"] == []
    assert 0.0 <= report["heldout"]["auc"] <= 1.0
    assert SocialScorer(out).score(["$TSLA to the moon 🚀"]).shape == (1,)


def test_score_reads_windows_1252_and_stray_bytes_without_a_traceback(tmp_path: Path) -> None:
    # stdin with bytes that are not UTF-8 crashed the tokenizer ('internal error (TypeError)'); a Windows-1252
    # file was read with U+FFFD in place of its accents
    path = tmp_path / "cp.txt"
    path.write_bytes("café great, buying $AAPL\n".encode("cp1252"))
    out = _json(app, "sentiment", "score", "--file", str(path), "--scorer", "lexicon")["results"]
    assert out[0]["text"] == "café great, buying $AAPL"
    mixed = "rocket 🚀 great\n".encode() + b"bad \xff byte, great\n"
    for source in ("--file", "-"):
        p = tmp_path / "mixed.txt"
        p.write_bytes(mixed)
        args = ["--file", str(p)] if source == "--file" else ["-"]
        result = runner.invoke(app, ["sentiment", "score", *args, "--json"], input=mixed)
        assert result.exit_code == 0, result.output
        texts = [r["text"] for r in json.loads(result.stdout)["results"]]
        assert texts == ["rocket 🚀 great", "bad \ufffd byte, great"]
