"""Comment import: idempotent on id, malformed records quarantined, nothing else lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tftrade.core.errors import DataError
from tftrade.data.comments import MalformedComment, ingest_comments, parse_record, read_comment_file
from tftrade.sentiment.lexicon import LexiconScorer
from tftrade.sentiment.pipeline import annotator
from tftrade.sentiment.tickers import TickerExtractor
from tftrade.store.schema import ingest_runs, quarantine, reddit_comment_texts, reddit_comments

ANNOTATE = annotator(TickerExtractor.default(), LexiconScorer())
GOOD = [
    {"id": "c1", "body": "$TSLA to the moon 🚀", "author": "a", "created_utc": 1704207600, "score": 5,
     "subreddit": "wallstreetbets", "link_id": "t3_x", "extra": {"ignored": True}},
    {"id": "c2", "body": "NVDA and Apple both dumping, bearish", "author": "b", "created_utc": "2024-01-02T15:01:00Z",
     "ups": 2},
    {"id": "c3", "body": "what a day, no tickers here", "author": None, "created_utc": 1704207700.5},
]
BAD_LINES = [
    "{not json",
    json.dumps([1, 2]),
    json.dumps({"body": "no id", "created_utc": 1704207600}),
    json.dumps({"id": "b2", "body": "", "created_utc": 1704207600}),
    json.dumps({"id": "b3", "body": "$AAPL", "created_utc": "yesterday-ish"}),
    json.dumps({"id": "b4", "body": "$AAPL", "created_utc": 1704207600, "score": "lots"}),
    json.dumps({"id": "b5", "body": "$AAPL"}),
    json.dumps({"id": "b6", "body": 42, "created_utc": 1704207600}),
    json.dumps({"id": "b7", "body": "$AAPL", "created_utc": 99999999999999}),
]


def _write_jsonl(path: Path, good: list[dict[str, object]], bad: list[str]) -> Path:
    lines = [json.dumps(g, ensure_ascii=False) for g in good] + bad + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_ingest_is_idempotent_and_quarantines(any_engine: Engine, tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "c.jsonl", [*GOOD, GOOD[0]], BAD_LINES)
    first = ingest_comments(any_engine, read_comment_file(path), str(path), ANNOTATE)
    assert (first.rows_read, first.inserted, first.duplicates, first.quarantined) == (13, 3, 1, len(BAD_LINES))
    assert first.mentions == 3 and first.without_ticker == 1
    second = ingest_comments(any_engine, read_comment_file(path), str(path), ANNOTATE)
    assert (second.inserted, second.duplicates, second.quarantined, second.mentions) == (0, 4, len(BAD_LINES), 0)
    assert _count(any_engine, reddit_comment_texts) == 3
    assert _count(any_engine, reddit_comments) == 3
    assert _count(any_engine, quarantine) == len(BAD_LINES)
    assert _count(any_engine, ingest_runs) == 2
    with any_engine.connect() as conn:
        rows = conn.execute(select(reddit_comments).order_by(reddit_comments.c.comment_id,
                                                             reddit_comments.c.ticker)).mappings().all()
        reasons = conn.execute(select(quarantine.c.row_number, quarantine.c.reason)
                               .order_by(quarantine.c.row_number)).all()
    assert [(r["comment_id"], r["ticker"]) for r in rows] == [("c1", "TSLA"), ("c2", "AAPL"), ("c2", "NVDA")]
    assert rows[0]["sentiment_score"] > 0.3 and rows[1]["sentiment_score"] < -0.3
    assert rows[0]["upvotes"] == 5 and rows[1]["upvotes"] == 2 and rows[0]["content_length"] == len(GOOD[0]["body"])
    assert rows[0]["timestamp"].tzinfo is not None
    assert [n for n, _ in reasons] == list(range(5, 5 + len(BAD_LINES)))
    assert reasons[0][1].startswith("not JSON") and reasons[2][1].startswith("id:")
    assert reasons[4][1].startswith("created_utc:") and reasons[5][1].startswith("score:")


def test_csv_import(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,body,author,created_utc,score\nx1,"$AMD calls, tendies",a,1704207600,3\n'
                    'x2,"bad row",b\nx3,"Tesla, puts",c,2024-01-02 15:00:00,1,extra\nx4,"Tesla puts",c,1704207601,\n',
                    encoding="utf-8")
    report = ingest_comments(sqlite_engine, read_comment_file(path), str(path), ANNOTATE)
    assert (report.inserted, report.quarantined, report.mentions) == (2, 2, 2)


def test_parse_record_naive_iso_is_utc() -> None:
    c = parse_record({"id": 7, "body": "x", "created_utc": "2024-01-02 15:00:00"})
    assert c.comment_id == "7" and c.created_utc.utcoffset() is not None and c.created_utc.hour == 15


def test_parse_record_messages() -> None:
    with pytest.raises(MalformedComment, match=r"created_utc: 'soon'; expected epoch seconds"):
        parse_record({"id": "a", "body": "x", "created_utc": "soon"})


def test_unknown_format(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("x")
    with pytest.raises(DataError, match="unknown comment format"):
        list(read_comment_file(tmp_path / "c.txt"))
    with pytest.raises(DataError, match="no such comment file"):
        list(read_comment_file(tmp_path / "missing.jsonl"))
