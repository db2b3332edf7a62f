"""Comment import: idempotent on id, malformed records quarantined, nothing else lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tftrade.core.errors import DataError
from tftrade.data.comments import MalformedComment, ingest_comments, parse_record, read_comment_file
from tftrade.sentiment.lexicon import LexiconScorer
from tftrade.sentiment.pipeline import annotator
from tftrade.sentiment.tickers import TickerExtractor
from tftrade.store.schema import ingest_runs, quarantine, reddit_comment_texts, reddit_comments

ANNOTATE = annotator(TickerExtractor.default(), LexiconScorer())
GOOD: list[dict[str, Any]] = [
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


def _write_jsonl(path: Path, good: list[dict[str, Any]], bad: list[str]) -> Path:
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


HOSTILE = [
    {"id": "h1", "body": "$AAPL fine", "created_utc": 1704207600, "score": 1e30},
    {"id": "h2", "body": "$AAPL with a \u0000 NUL", "created_utc": 1704207600},
    {"id": "x" * 300, "body": "$AAPL long id", "created_utc": 1704207600},
    {"id": "h4", "body": "$AAPL lone \ud800 surrogate", "created_utc": 1704207600},
    {"id": "h5", "body": "$AAPL", "created_utc": 1704207600, "author": "a" * 256},
    {"id": "h6", "body": "$AAPL", "created_utc": 1704207600, "score": True},
    {"id": {"nested": 1}, "body": "$AAPL", "created_utc": 1704207600},
    {"id": "h8", "body": "$AAPL", "created_utc": "1e30"},
]


def test_hostile_records_are_quarantined_and_the_rest_imported(any_engine: Engine, tmp_path: Path) -> None:
    lines = [json.dumps(GOOD[0])] + [json.dumps(h) for h in HOSTILE] + [json.dumps(GOOD[1]), "\x00{bad"]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    report = ingest_comments(any_engine, read_comment_file(path), str(path), ANNOTATE)
    assert (report.inserted, report.quarantined) == (2, len(HOSTILE) + 1)
    with any_engine.connect() as conn:
        ids = conn.execute(select(reddit_comment_texts.c.comment_id)).scalars().all()
        reasons = dict(conn.execute(select(quarantine.c.row_number, quarantine.c.reason)).all())
        raws = conn.execute(select(quarantine.c.raw)).scalars().all()
    assert sorted(ids) == ["c1", "c2"]
    assert reasons[2] == "score: 1e+30; expected an integer between -2147483648 and 2147483647"
    assert reasons[3].startswith("body: contains a NUL character")
    assert reasons[4].startswith("id: 'xxxxxxxx") and reasons[4].endswith("expected at most 255 characters")
    assert "(300 characters)" in reasons[4]
    assert "lone surrogate" in reasons[5] and reasons[6].startswith("author:")
    assert reasons[7].startswith("score: True") and reasons[8].startswith("id: {'nested'")
    assert reasons[9].startswith("created_utc: '1e30'") and reasons[11].startswith("not JSON")
    assert all("\x00" not in r for r in raws)


def test_store_refusal_quarantines_one_comment_not_the_batch(pg_engine: Engine, tmp_path: Path) -> None:
    import numpy as np

    def annotate(texts):  # type: ignore[no-untyped-def]
        # a ticker longer than the column's 16 characters: PostgreSQL refuses the row
        return [("TOOLONGTICKERSYMBOL",) if "bad" in t else ("AAPL",) for t in texts], np.full(len(texts), 0.5)

    rows = [{"id": f"k{k}", "body": f"$AAPL {'bad' if k == 2 else 'ok'}", "created_utc": 1704207600 + k}
            for k in range(4)]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    report = ingest_comments(pg_engine, read_comment_file(path), str(path), annotate)
    with pg_engine.connect() as conn:
        ids = conn.execute(select(reddit_comment_texts.c.comment_id)).scalars().all()
        reasons = conn.execute(select(quarantine.c.row_number, quarantine.c.reason)).all()
    assert sorted(ids) == ["k0", "k1", "k3"] and report.inserted == 3 and report.quarantined == 1
    assert reasons[0][0] == 3 and reasons[0][1].startswith("database:")


def test_csv_without_id_gets_a_stable_derived_id(any_engine: Engine, tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text('author,created_utc,body\nu1,1704207600,"$AMD calls"\nu2,2024-01-02T15:00:00Z,"$AMD puts"\n'
                 'u1,1704207600,"$AMD calls"\n', encoding="utf-8")
    b = tmp_path / "b.csv"  # the same comments, other order and time format
    b.write_text('body,created_utc,author\n"$AMD puts",1704207600,u2\n"$AMD calls",2024-01-02 15:00:00,u1\n',
                 encoding="utf-8")
    first = ingest_comments(any_engine, read_comment_file(a), str(a), ANNOTATE)
    assert (first.inserted, first.duplicates, first.quarantined) == (2, 1, 0)
    second = ingest_comments(any_engine, read_comment_file(b), str(b), ANNOTATE)
    assert (second.inserted, second.duplicates, second.quarantined) == (0, 2, 0)
    with any_engine.connect() as conn:
        ids = conn.execute(select(reddit_comment_texts.c.comment_id)).scalars().all()
    assert len(ids) == 2 and all(i.startswith("h-") and len(i) == 34 for i in ids)


@pytest.mark.parametrize("created", [1704207600000, "1704207600000", 1704207600000000, "9999-12-31T00:00:00Z",
                                     -1e12])
def test_a_time_beyond_the_years_is_quarantined_not_the_import(created: object) -> None:
    # epoch milliseconds passed for seconds (year 55974) failed the whole import with "year 55974 is out of range"
    with pytest.raises(MalformedComment, match=r"created_utc: .*expected a time between 2000 and 2100"):
        parse_record({"id": "m1", "body": "$AAPL", "created_utc": created})


def _runs(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        return [(r.status, r.error) for r in conn.execute(select(ingest_runs).order_by(ingest_runs.c.id))]


def test_a_truncated_gzip_is_one_clear_error_and_a_failed_run(sqlite_engine: Engine, tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(json.dumps(g) for g in GOOD).encode())[:60])
    with pytest.raises(DataError, match="compressed file is truncated"):
        ingest_comments(sqlite_engine, read_comment_file(path), str(path), ANNOTATE)
    assert _count(sqlite_engine, reddit_comment_texts) == 0
    assert [s for s, _ in _runs(sqlite_engine)] == ["failed"] and "truncated" in str(_runs(sqlite_engine)[0][1])


def test_text_encodings_bom_and_line_separators_inside_a_body(sqlite_engine: Engine, tmp_path: Path) -> None:
    # a Windows-1252 file was read with U+FFFD in place of its accents; a BOM hid the id column (ids derived);
    # U+2028 inside a JSON string split the record into two 'not JSON' lines
    cp = tmp_path / "cp.csv"
    cp.write_bytes("id,author,created_utc,body\nw1,bob,1704207600,großartig kaufen $SAP\n".encode("cp1252"))
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfid,author,created_utc,body\nb1,bob,1704207600,$AAPL great\n")
    sep = tmp_path / "sep.jsonl"
    mixed = [json.dumps({"id": "u1", "body": "line\u2028break $GME 🚀", "created_utc": 1704207600},
                        ensure_ascii=False).encode(),
             b'{"id": "u2", "body": "bad \xff byte", "created_utc": 1704207600}']
    sep.write_bytes(b"\n".join(mixed) + b"\n")
    for p in (cp, bom, sep):
        ingest_comments(sqlite_engine, read_comment_file(p), str(p), ANNOTATE)
    with sqlite_engine.connect() as conn:
        bodies = dict(conn.execute(select(reddit_comment_texts.c.comment_id, reddit_comment_texts.c.body)).all())
        reasons = conn.execute(select(quarantine.c.reason)).scalars().all()
    assert bodies == {"w1": "großartig kaufen $SAP", "b1": "$AAPL great", "u1": "line\u2028break $GME 🚀"}
    assert len(reasons) == 1 and "not UTF-8" in reasons[0]


def test_a_run_with_more_than_a_few_percent_quarantined_is_suspect(sqlite_engine: Engine, tmp_path: Path) -> None:
    good = _write_jsonl(tmp_path / "good.jsonl", GOOD, [])
    ingest_comments(sqlite_engine, read_comment_file(good), str(good), ANNOTATE)
    bad = _write_jsonl(tmp_path / "bad.jsonl", [], BAD_LINES)
    ingest_comments(sqlite_engine, read_comment_file(bad), str(bad), ANNOTATE)
    assert [s for s, _ in _runs(sqlite_engine)] == ["ok", "suspect"]


def test_csv_delimiters_are_sniffed_and_a_csv_without_body_is_refused(sqlite_engine: Engine, tmp_path: Path) -> None:
    # a ';' file quarantined every row as "body: None; expected the comment text"
    semi = tmp_path / "semi.csv"
    semi.write_text("id;author;created_utc;body\ns1;bob;1704207600;$AAPL great, buying\n", encoding="utf-8")
    report = ingest_comments(sqlite_engine, read_comment_file(semi), str(semi), ANNOTATE)
    assert (report.inserted, report.quarantined) == (1, 0)
    nobody = tmp_path / "nobody.csv"
    nobody.write_text("id,author,created_utc,text\nn1,bob,1704207600,$AAPL\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"nobody.csv: no 'body' column; found \['id', 'author'"):
        ingest_comments(sqlite_engine, read_comment_file(nobody), str(nobody), ANNOTATE)


def _run_rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(ingest_runs).order_by(ingest_runs.c.id))]


def test_a_comment_import_killed_mid_way_is_marked_aborted_and_stores_nothing(any_engine: Engine,
                                                                               tmp_path: Path) -> None:
    import subprocess
    import sys
    import textwrap

    from tftrade.store.runs import start_run

    path = _write_jsonl(tmp_path / "k.jsonl", GOOD, BAD_LINES[:2])
    url = any_engine.url.render_as_string(hide_password=False)
    # killed after the comments are written, before the quarantine and the run's counts
    script = textwrap.dedent(f"""
        import os, signal
        import tftrade.data.comments as comments
        from tftrade.store.engine import make_engine
        from tftrade.sentiment.lexicon import LexiconScorer
        from tftrade.sentiment.pipeline import annotator
        from tftrade.sentiment.tickers import TickerExtractor
        comments._quarantine = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        comments.ingest_comments(make_engine({url!r}), comments.read_comment_file({str(path)!r}), {str(path)!r},
                                 annotator(TickerExtractor.default(), LexiconScorer()))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr
    assert [(r["kind"], r["status"]) for r in _run_rows(any_engine)] == [("comments", "running")]
    assert _count(any_engine, reddit_comment_texts) == _count(any_engine, reddit_comments) == 0, "nothing half-written"
    assert _count(any_engine, quarantine) == 0
    start_run(any_engine, "comments", "next")
    runs = _run_rows(any_engine)
    assert [r["status"] for r in runs] == ["aborted", "running"] and "ended before it finished" in str(runs[0]["error"])
    again = ingest_comments(any_engine, read_comment_file(path), str(path), ANNOTATE)
    assert (again.inserted, again.quarantined, again.status) == (3, 2, "suspect")


def test_a_comment_that_disagrees_with_the_stored_one_is_a_conflict_applied_only_with_update(
        any_engine: Engine, tmp_path: Path) -> None:
    from tftrade.store.schema import comment_corrections

    first = _write_jsonl(tmp_path / "a.jsonl", GOOD, [])
    assert ingest_comments(any_engine, read_comment_file(first), str(first), ANNOTATE).inserted == 3
    edited = [GOOD[0] | {"body": "$AAPL is doomed, selling everything", "score": 9}, GOOD[1], GOOD[2],
              {"id": "c4", "body": "new one $MSFT", "created_utc": 1704207800}]
    second = _write_jsonl(tmp_path / "b.jsonl", edited, [])
    r = ingest_comments(any_engine, read_comment_file(second), str(second), ANNOTATE)
    assert (r.rows_read, r.inserted, r.duplicates, r.conflicts, r.quarantined, r.updated) == (4, 1, 2, 1, 1, 0)
    with any_engine.connect() as conn:
        reason = conn.execute(select(quarantine.c.reason)).scalar_one()
        body = conn.execute(select(reddit_comment_texts.c.body).where(
            reddit_comment_texts.c.comment_id == "c1")).scalar_one()
    assert reason.startswith("conflicts with the stored comment: body stored '$TSLA to the moon 🚀', file '$AAPL is")
    assert "score stored 5, file 9" in reason and "--update" in reason
    assert body == GOOD[0]["body"], "a conflict never changes the stored comment without --update"
    assert (_run_rows(any_engine)[-1]["conflicts"], _run_rows(any_engine)[-1]["quarantined"]) == (1, 1)
    u = ingest_comments(any_engine, read_comment_file(second), str(second), ANNOTATE, update=True)
    assert (u.inserted, u.duplicates, u.conflicts, u.updated, u.quarantined, u.status) == (0, 3, 1, 1, 0, "ok")
    with any_engine.connect() as conn:
        text = conn.execute(select(reddit_comment_texts.c.body, reddit_comment_texts.c.score).where(
            reddit_comment_texts.c.comment_id == "c1")).one()
        mentions = conn.execute(select(reddit_comments.c.ticker, reddit_comments.c.sentiment_score).where(
            reddit_comments.c.comment_id == "c1")).all()
        fix = conn.execute(select(comment_corrections)).one()
    assert (text.body, text.score) == (edited[0]["body"], 9)
    assert [m.ticker for m in mentions] == ["AAPL"] and float(mentions[0].sentiment_score) < 0, "re-annotated"
    assert json.loads(fix.old)["body"] == GOOD[0]["body"] and json.loads(fix.new)["score"] == 9
    assert fix.run_id == _run_rows(any_engine)[-1]["id"] and _run_rows(any_engine)[-1]["updated"] == 1
    same = ingest_comments(any_engine, read_comment_file(second), str(second), ANNOTATE)
    assert (same.duplicates, same.conflicts, same.quarantined) == (4, 0, 0), "an identical re-import is a duplicate"


def test_an_update_that_leaves_a_field_out_keeps_the_stored_one_everywhere(any_engine: Engine, tmp_path: Path) -> None:
    first = _write_jsonl(tmp_path / "a.jsonl", GOOD[:1], [])
    ingest_comments(any_engine, read_comment_file(first), str(first), ANNOTATE)
    edited = {k: v for k, v in GOOD[0].items() if k != "score"} | {"body": "$TSLA is doomed, selling everything"}
    second = _write_jsonl(tmp_path / "b.jsonl", [edited], [])
    u = ingest_comments(any_engine, read_comment_file(second), str(second), ANNOTATE, update=True)
    assert (u.conflicts, u.updated) == (1, 1)
    with any_engine.connect() as conn:
        score = conn.execute(select(reddit_comment_texts.c.score)).scalar_one()
        upvotes = conn.execute(select(reddit_comments.c.upvotes)).scalars().all()
    assert score == GOOD[0]["score"] and upvotes == [GOOD[0]["score"]], "the file gave no score: the stored one stays"


def test_two_records_of_one_id_that_disagree_in_a_file_are_both_quarantined(any_engine: Engine,
                                                                             tmp_path: Path) -> None:
    other = GOOD[0] | {"body": "$TSLA is a fraud"}
    path = _write_jsonl(tmp_path / "d.jsonl", [GOOD[0], GOOD[1], other, GOOD[1]], [])
    r = ingest_comments(any_engine, read_comment_file(path), str(path), ANNOTATE)
    assert (r.rows_read, r.inserted, r.duplicates, r.quarantined) == (4, 1, 1, 2)
    with any_engine.connect() as conn:
        q = conn.execute(select(quarantine.c.row_number, quarantine.c.reason).order_by(quarantine.c.row_number)).all()
    assert [x.row_number for x in q] == [1, 3]
    assert "row 3 (body differ)" in q[0].reason and "row 1 (body differ)" in q[1].reason
    assert all("none of them stored" in x.reason for x in q)
    assert _count(any_engine, reddit_comment_texts) == 1
