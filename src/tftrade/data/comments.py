"""Import social comments (Reddit JSONL/CSV, the synthetic market's) into the store.

Each record needs Reddit's fields ``id``, ``body`` and ``created_utc`` (epoch
seconds or an ISO-8601 time; naive times are UTC); ``author``, ``subreddit``,
``link_id`` and ``score`` (or ``ups``) are kept when present; other fields are
ignored. A CSV file without an ``id`` column gets a stable id derived from each
row's author, time and text (:func:`derived_id`). A record that breaks these rules
(or that the database refuses) is quarantined with the reason and nothing else is
lost: every value must fit its column (ids and names at most 255 characters, the
score a 32-bit integer, text without NUL characters or lone surrogates, which
PostgreSQL cannot store). Import is idempotent on the comment id: a comment already
stored (or repeated in the input) is counted as a duplicate and left alone.

The text goes to ``reddit_comment_texts`` (so scores can be recomputed); one
``reddit_comments`` row per (comment, ticker it mentions) carries the score.
Which tickers a text mentions and its score come from an injected ``annotate``
callable, so this module does not depend on the sentiment engine.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine, Table, insert, select
from sqlalchemy.exc import DBAPIError

from tftrade.core.errors import DataError
from tftrade.data.csv_dialect import read_bytes
from tftrade.store.schema import ingest_runs, quarantine, reddit_comment_texts, reddit_comments

Annotate = Callable[[Sequence[str]], tuple[list[tuple[str, ...]], npt.NDArray[np.float64]]]
"""Texts → (tickers mentioned per text, sentiment score per text)."""

_MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
_MAX_TIME = datetime(2100, 1, 1, tzinfo=UTC)
_CHUNK = 500
MAX_NAME = 255
"""Longest ``id``, ``author``, ``subreddit`` or ``link_id`` the store takes (``String(255)``)."""
_INT32 = (-(2**31), 2**31 - 1)
SUSPECT_SHARE = 0.02
"""More than this share of records quarantined makes an import ``suspect`` (as for bars)."""


class MalformedComment(DataError):
    """One input record cannot be read as a comment; the message is the quarantine reason."""


@dataclass(frozen=True)
class CommentRecord:
    """One validated comment."""

    comment_id: str
    body: str
    created_utc: datetime
    author: str | None = None
    subreddit: str | None = None
    link_id: str | None = None
    score: int | None = None


@dataclass(frozen=True)
class RawRecord:
    """One input record as read, before validation: its 1-based row, raw text and parsed fields."""

    row_number: int
    raw: str
    fields: dict[str, Any] | None
    error: str | None = None
    derive_id: bool = False
    """The file has no ``id`` column: the id is derived from author, time and text."""


@dataclass(frozen=True)
class CommentIngestReport:
    """What one import did."""

    source: str
    rows_read: int
    inserted: int
    duplicates: int
    quarantined: int
    mentions: int
    without_ticker: int
    reasons: dict[str, int]

    @property
    def status(self) -> str:
        """``suspect`` when more than :data:`SUSPECT_SHARE` of the records were quarantined, else ``ok``."""
        return "suspect" if self.rows_read and self.quarantined / self.rows_read > SUSPECT_SHARE else "ok"


def parse_record(fields: dict[str, Any], *, derive_id: bool = False) -> CommentRecord:
    """Validate one record's fields into a :class:`CommentRecord`.

    With ``derive_id`` the record's id is :func:`derived_id` of its author, time and text
    (for files without an ``id`` column) instead of its ``id`` field.

    Raises
    ------
    MalformedComment
        Naming the field, the value and what was expected.

    Examples
    --------
    >>> parse_record({"id": "abc", "body": "hi $TSLA", "created_utc": 1704207600, "ups": "3"}).score
    3
    >>> parse_record({"id": "abc", "body": "", "created_utc": 1704207600})
    Traceback (most recent call last):
    ...
    tftrade.data.comments.MalformedComment: body: empty; expected the comment text
    >>> parse_record({"id": "abc", "body": "x", "created_utc": 1704207600, "score": 1e30})
    Traceback (most recent call last):
    ...
    tftrade.data.comments.MalformedComment: score: 1e+30; expected an integer between -2147483648 and 2147483647
    """
    body = fields.get("body")
    if not isinstance(body, str):
        raise MalformedComment(f"body: {_show(body)}; expected the comment text")
    if not body.strip():
        raise MalformedComment("body: empty; expected the comment text")
    _storable("body", body, None)
    created = _time(fields.get("created_utc"))
    author = _name("author", fields.get("author"))
    cid = derived_id(author, created, body) if derive_id else _name("id", fields.get("id"))
    if not cid:
        raise MalformedComment(f"id: {_show(fields.get('id'))}; expected a non-empty comment id")
    score_raw = fields.get("score", fields.get("ups"))
    return CommentRecord(
        comment_id=cid,
        body=body,
        created_utc=created,
        author=author,
        subreddit=_name("subreddit", fields.get("subreddit")),
        link_id=_name("link_id", fields.get("link_id")),
        score=_int(score_raw),
    )


def derived_id(author: str | None, created_utc: datetime, body: str) -> str:
    """Return a stable comment id from author, time and text (for files without ids).

    The same comment gives the same id in any file and row order, so re-importing it
    is a duplicate, not a second comment.

    Examples
    --------
    >>> t = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
    >>> derived_id("a", t, "hi") == derived_id("a", t, "hi") != derived_id("b", t, "hi")
    True
    >>> derived_id("a", t, "hi")[:2]
    'h-'
    """
    key = "\x1f".join([author or "", created_utc.astimezone(UTC).isoformat(), body])
    return "h-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _show(value: Any) -> str:
    """``repr`` of a value for a message, shortened (a 300-character id is not repeated in full)."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(str(value))} characters)"


def _storable(field: str, value: str, limit: int | None) -> str:
    """Check that the database can hold ``value``: length, no NUL, valid UTF-8."""
    if limit is not None and len(value) > limit:
        raise MalformedComment(f"{field}: {_show(value)}; expected at most {limit} characters")
    if "\x00" in value:
        raise MalformedComment(f"{field}: contains a NUL character (\\u0000); expected text without NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in value):  # a byte of the file that is not UTF-8
            raise MalformedComment(f"{field}: {_show(_printable(value))}; not UTF-8 text") from None
        raise MalformedComment(f"{field}: {_show(value)}; not valid Unicode (a lone surrogate)") from None
    return value


def _name(field: str, value: Any) -> str | None:
    if isinstance(value, dict | list):
        raise MalformedComment(f"{field}: {_show(value)}; expected a string")
    out = _text(value)
    return None if out is None else _storable(field, out, MAX_NAME)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    out = str(value).strip()
    return out or None


def _int(value: Any) -> int | None:
    if _text(value) is None:
        return None
    expected = f"expected an integer between {_INT32[0]} and {_INT32[1]}"
    if isinstance(value, bool):
        raise MalformedComment(f"score: {value!r}; {expected}")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise MalformedComment(f"score: {_show(value)}; {expected}") from None
    if not math.isfinite(f) or f != int(f) or not _INT32[0] <= f <= _INT32[1]:
        raise MalformedComment(f"score: {_show(value)}; {expected}")
    return int(f)


def _time(value: Any) -> datetime:
    if _text(value) is None:
        raise MalformedComment("created_utc: missing; expected epoch seconds or an ISO-8601 time")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = None
    if seconds is not None and math.isfinite(seconds) and not (
            _MIN_TIME.timestamp() <= seconds < _MAX_TIME.timestamp()):
        unit = " (milliseconds?)" if _MIN_TIME.timestamp() <= seconds / 1000 < _MAX_TIME.timestamp() else ""
        raise MalformedComment(f"created_utc: {_show(value)}{unit}; expected a time between 2000 and 2100 "
                               "(epoch seconds)")
    try:
        ts = pd.Timestamp(float(value), unit="s", tz="UTC")
    except (TypeError, ValueError, OverflowError):
        try:
            ts = pd.Timestamp(str(value))
        except (TypeError, ValueError, OverflowError):
            raise MalformedComment(f"created_utc: {_show(value)}; expected epoch seconds or an ISO-8601 time") from None
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if pd.isna(ts) or not _MIN_TIME <= ts.to_pydatetime() < _MAX_TIME:
        raise MalformedComment(f"created_utc: {_show(value)}; expected a time between 2000 and 2100")
    out: datetime = ts.to_pydatetime()
    return out


def read_comment_file(path: str | Path) -> Iterator[RawRecord]:
    """Yield the records of a ``.jsonl``/``.ndjson``/``.json``/``.csv`` file (optionally ``.gz``).

    Raises
    ------
    DataError
        If the file is missing or its format is not recognised.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such comment file")
    suffixes = [s.lower() for s in p.suffixes if s.lower() not in (".gz", ".bz2", ".xz")]
    kind = suffixes[-1] if suffixes else ""
    if kind not in (".jsonl", ".ndjson", ".json", ".csv"):
        raise DataError(f"{p}: unknown comment format {kind!r}; expected .jsonl, .ndjson, .json or .csv")
    text = decode_text(read_bytes(p))
    if kind in (".jsonl", ".ndjson"):
        yield from _jsonl(text)
    elif kind == ".json":
        yield from _json(text)
    elif kind == ".csv":
        yield from _csv(text, p)
    else:
        raise DataError(f"{p}: unknown comment format {kind!r}; expected .jsonl, .ndjson, .json or .csv")


def decode_text(data: bytes) -> str:
    """The file's text: UTF-8 (a BOM dropped); else Windows-1252 when no byte sequence in it is UTF-8.

    A UTF-8 file with a few stray bytes keeps them as surrogate escapes, so the records holding
    them are quarantined ("not UTF-8") instead of stored with replacement characters.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8-sig", errors="surrogateescape")
    if not any(ord(ch) > 0x7F and not 0xDC80 <= ord(ch) <= 0xDCFF for ch in text):
        return data.decode("cp1252", errors="replace")
    return text


def _jsonl(text: str) -> Iterator[RawRecord]:
    # lines end at "\n" only: U+2028 and other separators str.splitlines() knows may sit inside a JSON string
    for k, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield RawRecord(k, line, None, f"not JSON: {e.msg} at column {e.colno}")
            continue
        if isinstance(obj, dict):
            yield RawRecord(k, line, obj)
        else:
            yield RawRecord(k, line, None, f"not a JSON object: {type(obj).__name__}")


def _json(text: str) -> Iterator[RawRecord]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"not a JSON document: {e.msg} at line {e.lineno}") from None
    items = data if isinstance(data, list) else [data]
    for k, obj in enumerate(items, start=1):
        raw = json.dumps(obj, ensure_ascii=False, sort_keys=True)
        yield RawRecord(k, raw, obj) if isinstance(obj, dict) else RawRecord(k, raw, None, "not a JSON object")


def _csv(text: str, path: Path) -> Iterator[RawRecord]:
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t|", key=first.count) if first.strip() else ","  # the header's separator
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    names = reader.fieldnames or []
    if names and "body" not in names:
        raise DataError(f"{path.name}: no 'body' column; found {ascii(names)[:300]}")
    derive = "id" not in names
    for row in reader:
        raw = json.dumps(row, ensure_ascii=False)
        line = reader.line_num
        if None in row:
            yield RawRecord(line, raw, None, f"{len(row) - 1 + len(row[None])} fields; expected {len(row) - 1}")
        elif any(v is None for v in row.values()):
            yield RawRecord(line, raw, None, "too few fields")
        else:
            yield RawRecord(line, raw, dict(row), derive_id=derive)


def synthetic_records(comments: pd.DataFrame) -> Iterator[RawRecord]:
    """Yield the synthetic market's ``comments`` frame as raw records (its extra columns are ignored)."""
    cols = [c for c in ("id", "body", "author", "created_utc", "score", "subreddit", "link_id") if c in comments]
    for k, row in enumerate(comments[cols].itertuples(index=False, name=None), start=1):
        fields = {c: (v.item() if isinstance(v, np.generic) else v) for c, v in zip(cols, row, strict=True)}
        yield RawRecord(k, json.dumps(fields, ensure_ascii=False, default=str), fields)


def ingest_comments(
    engine: Engine, records: Iterator[RawRecord] | Sequence[RawRecord], source: str, annotate: Annotate,
    *, kind: str = "import",
) -> CommentIngestReport:
    """Validate, annotate and store ``records``; quarantine the malformed ones; log an ingest run.

    Parameters
    ----------
    engine
        A migrated database.
    records
        Raw records, e.g. from :func:`read_comment_file` or :func:`synthetic_records`.
    source
        Name of the input (a path) used in the quarantine and the run log.
    annotate
        Returns the tickers and the score of each text.
    kind
        Stored in ``reddit_comment_texts.source`` (``import``, ``synthetic``, ...).
    """
    started = datetime.now(UTC)
    good: dict[str, CommentRecord] = {}
    origin: dict[str, RawRecord] = {}
    bad: list[tuple[RawRecord, str]] = []
    rows = duplicates = 0
    try:
        for rec in records:
            rows += 1
            try:
                if rec.fields is None:
                    raise MalformedComment(rec.error or "unreadable record")
                c = parse_record(rec.fields, derive_id=rec.derive_id)
            except MalformedComment as e:
                bad.append((rec, str(e)))
                continue
            if c.comment_id in good:
                duplicates += 1
            else:
                good[c.comment_id] = c
                origin[c.comment_id] = rec
    except DataError as e:  # the file cannot be read at all: nothing is stored, the run is logged as failed
        _log_run(engine, CommentIngestReport(source, 0, 0, 0, 0, 0, 0, {}), started, error=str(e))
        raise
    with engine.begin() as conn:
        stored = _existing_ids(conn, list(good))
    new = [c for cid, c in good.items() if cid not in stored]
    duplicates += len(good) - len(new)
    tickers, scores = annotate([c.body for c in new]) if new else ([], np.zeros(0))
    mentions, refused = _store(engine, new, tickers, scores, kind)
    bad.extend((origin[cid], reason) for cid, reason in refused.items())
    new = [c for c in new if c.comment_id not in refused]
    _quarantine(engine, source, bad)
    reasons: dict[str, int] = {}
    for _, reason in bad:
        key = reason.split(":")[0]
        reasons[key] = reasons.get(key, 0) + 1
    report = CommentIngestReport(source, rows, len(new), duplicates, len(bad), mentions,
                                 sum(1 for t in tickers if not t), reasons)
    _log_run(engine, report, started)
    return report


def _existing_ids(conn: Any, ids: list[str]) -> set[str]:
    out: set[str] = set()
    col = reddit_comment_texts.c.comment_id
    for k in range(0, len(ids), _CHUNK):
        out.update(conn.execute(select(col).where(col.in_(ids[k: k + _CHUNK]))).scalars())
    return out


def _store(engine: Engine, new: list[CommentRecord], tickers: list[tuple[str, ...]],
           scores: npt.NDArray[np.float64], kind: str) -> tuple[int, dict[str, str]]:
    """Store the comments and their mentions; return the mention count and the comments refused.

    All rows go in one transaction; if the database refuses it (a value validation did not
    foresee), each comment is stored in its own transaction and the ones refused are
    returned with the database's reason, to be quarantined: one bad record never loses the rest.
    """
    rows = [
        ({**asdict(c), "source": kind},
         [{"comment_id": c.comment_id, "ticker": t, "sentiment_score": round(float(s), 3),
           "timestamp": c.created_utc, "upvotes": c.score, "content_length": len(c.body)} for t in ts])
        for c, ts, s in zip(new, tickers, scores, strict=True)
    ]
    try:
        _store_rows(engine, rows)
        return sum(len(m) for _, m in rows), {}
    except DBAPIError:
        pass
    stored, refused = 0, {}
    for one in rows:
        try:
            _store_rows(engine, [one])
            stored += len(one[1])
        except DBAPIError as e:
            first = str(e.orig).strip().splitlines()[0] if e.orig is not None else type(e).__name__
            refused[one[0]["comment_id"]] = f"database: {first}"
    return stored, refused


def _store_rows(engine: Engine, rows: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
    with engine.begin() as conn:
        _insert_ignore(conn, engine, reddit_comment_texts, [t for t, _ in rows], ["comment_id"])
        _insert_ignore(conn, engine, reddit_comments, [m for _, ms in rows for m in ms], ["comment_id", "ticker"])


def _quarantine(engine: Engine, source: str, bad: list[tuple[RawRecord, str]]) -> None:
    rows = [{"source": _printable(source[-512:]), "row_number": rec.row_number, "raw": _printable(rec.raw),
             "reason": _printable(reason), "row_hash": hashlib.sha256(
                 f"{rec.row_number}\x00{rec.raw}".encode("utf-8", "surrogatepass")).hexdigest()}
            for rec, reason in bad]
    with engine.begin() as conn:
        _insert_ignore(conn, engine, quarantine, rows, ["source", "row_hash"])


def _printable(text: str) -> str:
    """``text`` as any database stores it: NUL and lone surrogates written as escapes."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _log_run(engine: Engine, report: CommentIngestReport, started: datetime, error: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(insert(ingest_runs).values(
            kind="comments", source=_printable(report.source)[-512:], started_at=started,
            finished_at=datetime.now(UTC),
            status="failed" if error else report.status, rows_read=report.rows_read, inserted=report.inserted,
            duplicates=report.duplicates, quarantined=report.quarantined, report=json.dumps(asdict(report)),
            error=_printable(error) if error else None,
        ))


def _insert_ignore(conn: Any, engine: Engine, table: Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
    if not rows:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    inserts: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
    if engine.dialect.name not in inserts:
        raise DataError(f"comment import supports SQLite and PostgreSQL, not {engine.dialect.name!r}")
    stmt = inserts[engine.dialect.name](table).on_conflict_do_nothing(index_elements=keys)
    for k in range(0, len(rows), 5_000):
        conn.execute(stmt, rows[k: k + 5_000])
