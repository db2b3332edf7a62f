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
stored (or repeated in the input) with the same fields is a duplicate and left alone. One
stored with other fields is a *conflict*: quarantined with both values, or applied with
``update`` (recorded in ``comment_corrections``); records of one id that disagree within
the input are all quarantined. Each import is one transaction, logged in ``ingest_runs``
from its start (a killed one is marked ``aborted`` by the next start).

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
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine, Table, delete, insert, select
from sqlalchemy import update as sa_update
from sqlalchemy.exc import DBAPIError

from tftrade.core.errors import DataError, first_line
from tftrade.data.csv_dialect import read_bytes
from tftrade.store.runs import finish_run, start_run
from tftrade.store.schema import comment_corrections, quarantine, reddit_comment_texts, reddit_comments

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
    conflicts: int = 0
    """Comments whose id is stored with other text, time or score: quarantined, or ``updated``."""
    updated: int = 0
    """Conflicts applied (``update=True``), each recorded in ``comment_corrections``."""

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
    else:  # .csv
        yield from _csv(text, p)


def decode_text(data: bytes, stray: str = "surrogateescape") -> str:
    """The file's text: UTF-8 (a BOM dropped); else Windows-1252 when no byte sequence in it is UTF-8.

    A UTF-8 file with a few stray bytes keeps them as surrogate escapes (``stray``, the codec's error
    handler; ``"replace"``: U+FFFD), so the records holding them are quarantined ("not UTF-8") instead
    of stored with replacement characters.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8-sig", errors="surrogateescape")
    if not any(ord(ch) > 0x7F and not 0xDC80 <= ord(ch) <= 0xDCFF for ch in text):
        return data.decode("cp1252", errors="replace")
    return text if stray == "surrogateescape" else data.decode("utf-8-sig", errors=stray)


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
    *, kind: str = "import", update: bool = False,
) -> CommentIngestReport:
    """Validate, annotate and store ``records``; quarantine the malformed ones; log an ingest run.

    The run is logged ``running`` before anything is read (:func:`~tftrade.store.runs.start_run`),
    and the comments, their mentions, corrections, quarantine rows and the run's counts are written
    in one transaction: a process killed mid-way stores nothing and its run is marked ``aborted``
    by the next ingest to start.

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
    update
        Apply comments that disagree with the stored one of the same id (recorded in
        ``comment_corrections``); without it they are quarantined as conflicts.
    """
    src = _printable(source)[-512:]
    run_id = start_run(engine, "comments", src)
    try:
        return _ingest(engine, records, source, annotate, kind, update, run_id)
    except DataError as e:  # the file cannot be read at all: nothing is stored, the run is logged as failed
        finish_run(engine, run_id, "failed", {}, error=_printable(str(e))[:2000])
        raise
    except BaseException as e:
        finish_run(engine, run_id, "failed", {}, error=_printable(f"{type(e).__name__}: {e}")[:2000])
        raise


def _ingest(engine: Engine, records: Iterator[RawRecord] | Sequence[RawRecord], source: str, annotate: Annotate,
            kind: str, update: bool, run_id: int) -> CommentIngestReport:
    seen: dict[str, list[tuple[RawRecord, CommentRecord]]] = {}
    bad: list[tuple[RawRecord, str]] = []
    rows = duplicates = 0
    for rec in records:
        rows += 1
        try:
            if rec.fields is None:
                raise MalformedComment(rec.error or "unreadable record")
            c = parse_record(rec.fields, derive_id=rec.derive_id)
        except MalformedComment as e:
            bad.append((rec, str(e)))
            continue
        seen.setdefault(c.comment_id, []).append((rec, c))
    good: dict[str, CommentRecord] = {}
    origin: dict[str, RawRecord] = {}
    for cid, copies in seen.items():
        first_rec, first = copies[0]
        if all(c == first for _, c in copies[1:]):  # exact repeats in the file: the first is kept
            good[cid], origin[cid] = first, first_rec
            duplicates += len(copies) - 1
            continue
        for rec, c in copies:  # the file contradicts itself: storing either one would be a guess
            others = [f"{r.row_number} ({', '.join(f for f in _COMPARED if getattr(o, f) != getattr(c, f))} differ)"
                      for r, o in copies if o != c]
            bad.append((rec, f"disagrees with another record of its id in the file: id {_show(cid)}, row "
                             f"{'; row '.join(others)}; none of them stored"))
    with engine.connect() as conn:
        stored = _stored(conn, list(good))
    new = [c for cid, c in good.items() if cid not in stored]
    clashing = [c for cid, c in good.items() if cid in stored and _differences(stored[cid], c)]
    duplicates += len(good) - len(new) - len(clashing)
    if not update:
        bad.extend((origin[c.comment_id],
                    f"conflicts with the stored comment: {_differences(stored[c.comment_id], c)} "
                    "(use --update to apply it)") for c in clashing)
    applied = clashing if update else []
    texts = [c.body for c in (*new, *applied)]
    tickers, scores = annotate(texts) if texts else ([], np.zeros(0))
    batch = _rows(new, applied, tickers, scores, kind, stored)
    refused: dict[str, str] = {}
    while True:
        try:
            with engine.begin() as conn:
                mentions = _write(conn, engine, batch, run_id)
                _quarantine(conn, engine, source, bad + [(origin[cid], r) for cid, r in refused.items()])
                report = _report(source, rows, batch, duplicates, bad, refused, mentions, len(clashing))
                finish_run(conn, run_id, report.status, {
                    "rows_read": report.rows_read, "inserted": report.inserted, "duplicates": report.duplicates,
                    "quarantined": report.quarantined, "conflicts": report.conflicts, "updated": report.updated},
                    report=asdict(report))
            return report
        except DBAPIError:
            if refused:
                raise
        # the database refused a value validation did not foresee: find which comments, quarantine them
        refused = _refused(engine, batch, run_id)
        if not refused:
            raise DataError(f"{source}: the database refused the import and no single comment explains it")
        batch = [b for b in batch if b.record.comment_id not in refused]


@dataclass(frozen=True)
class _Row:
    """One comment to write: inserted (``old`` is None) or replacing the stored ``old``."""

    record: CommentRecord
    mentions: list[dict[str, Any]]
    kind: str
    old: CommentRecord | None = None


_LABEL_EDGE = 0.3
"""Scores beyond ±this are bullish / bearish (:data:`tftrade.sentiment.scorer.BULLISH_ABOVE`; data sits below
sentiment in the layers, so it is restated here)."""


def _stored_score(s: float) -> float:
    """``s`` to the stored 3 decimals, never rounded onto the label edge it was beyond (0.3004 → 0.301: still
    bullish, as the scorer said).

    >>> _stored_score(0.30035), _stored_score(-0.30049), _stored_score(0.3), _stored_score(0.1234)
    (0.301, -0.301, 0.3, 0.123)
    """
    r = round(s, 3)
    if abs(r) == _LABEL_EDGE and abs(s) > _LABEL_EDGE:
        r = math.copysign(_LABEL_EDGE + 0.001, s)
    return r


def _rows(new: list[CommentRecord], applied: list[CommentRecord], tickers: list[tuple[str, ...]],
          scores: npt.NDArray[np.float64], kind: str, stored: dict[str, CommentRecord]) -> list[_Row]:
    out = []
    corrected = {c.comment_id for c in applied}
    for c, ts, s in zip((*new, *applied), tickers, scores, strict=True):
        old = stored.get(c.comment_id) if c.comment_id in corrected else None
        if old is not None:  # a correction: the stored comment with the fields the file gives
            c = replace(old, **{f: getattr(c, f) for f in _COMPARED if getattr(c, f) is not None})
        mentions = [{"comment_id": c.comment_id, "ticker": t, "sentiment_score": _stored_score(float(s)),
                     "timestamp": c.created_utc, "upvotes": c.score, "content_length": len(c.body)} for t in ts]
        out.append(_Row(c, mentions, kind, old))
    return out


def _report(source: str, rows: int, batch: list[_Row], duplicates: int, bad: list[tuple[RawRecord, str]],
            refused: dict[str, str], mentions: int, conflicts: int) -> CommentIngestReport:
    reasons: dict[str, int] = {}
    for reason in [r for _, r in bad] + list(refused.values()):
        key = reason.split(":")[0]
        reasons[key] = reasons.get(key, 0) + 1
    written = [b for b in batch if b.old is None]
    return CommentIngestReport(
        source, rows, len(written), duplicates, len(bad) + len(refused), mentions,
        sum(1 for b in written if not b.mentions), reasons, conflicts=conflicts, updated=len(batch) - len(written))


_COMPARED = ("body", "created_utc", "author", "subreddit", "link_id", "score")


def _differences(old: CommentRecord, new: CommentRecord) -> str:
    """What ``new`` changes in ``old`` ("" when nothing); a field ``new`` lacks (None) is no change."""
    out = []
    for f in _COMPARED:
        a, b = getattr(old, f), getattr(new, f)
        if b is not None and a != b:
            show = (lambda v: v.isoformat()) if f == "created_utc" else _show
            out.append(f"{f} stored {show(a)}, file {show(b)}")
    return "; ".join(out)


def _stored(conn: Any, ids: list[str]) -> dict[str, CommentRecord]:
    """The stored comments among ``ids``."""
    out: dict[str, CommentRecord] = {}
    t = reddit_comment_texts
    cols = [t.c.comment_id, *(t.c[f] for f in _COMPARED)]
    for k in range(0, len(ids), _CHUNK):
        for r in conn.execute(select(*cols).where(t.c.comment_id.in_(ids[k: k + _CHUNK]))):
            out[r.comment_id] = CommentRecord(comment_id=r.comment_id, **{f: getattr(r, f) for f in _COMPARED})
    return out


def _write(conn: Any, engine: Engine, batch: list[_Row], run_id: int) -> int:
    """Insert new comments, apply corrections (recorded), insert the mentions; return the mention count."""
    t = reddit_comment_texts
    _insert_ignore(conn, engine, t, [{**asdict(b.record), "source": b.kind} for b in batch if b.old is None],
                   ["comment_id"])
    fixes = [b for b in batch if b.old is not None]
    for b in fixes:
        values = {f: getattr(b.record, f) for f in _COMPARED if getattr(b.record, f) is not None}
        conn.execute(sa_update(t).where(t.c.comment_id == b.record.comment_id).values(**values, source=b.kind))
        conn.execute(delete(reddit_comments).where(reddit_comments.c.comment_id == b.record.comment_id))
    if fixes:
        conn.execute(insert(comment_corrections), [
            {"run_id": run_id, "comment_id": b.record.comment_id, "old": _as_json(b.old), "new": _as_json(b.record)}
            for b in fixes])
    _insert_ignore(conn, engine, reddit_comments, [m for b in batch for m in b.mentions], ["comment_id", "ticker"])
    return sum(len(b.mentions) for b in batch)


def _as_json(c: CommentRecord | None) -> str:
    return json.dumps({f: getattr(c, f) for f in _COMPARED}, default=lambda v: v.isoformat(), ensure_ascii=False)


def _refused(engine: Engine, batch: list[_Row], run_id: int) -> dict[str, str]:
    """Try each comment alone in a transaction that is rolled back; return the ones the database refuses."""
    refused: dict[str, str] = {}
    for b in batch:
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                _write(conn, engine, [b], run_id)
            except DBAPIError as e:
                first = first_line(e.orig) if e.orig is not None else type(e).__name__
                refused[b.record.comment_id] = f"database: {first}"
            finally:
                trans.rollback()
    return refused


def _quarantine(conn: Any, engine: Engine, source: str, bad: list[tuple[RawRecord, str]]) -> None:
    rows = [{"source": _printable(source[-512:]), "row_number": rec.row_number, "raw": _printable(rec.raw),
             "reason": _printable(reason), "row_hash": hashlib.sha256(
                 f"{rec.row_number}\x00{rec.raw}".encode("utf-8", "surrogatepass")).hexdigest()}
            for rec, reason in bad]
    _insert_ignore(conn, engine, quarantine, rows, ["source", "row_hash"])


def _printable(text: str) -> str:
    """``text`` as any database stores it: NUL and lone surrogates written as escapes."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


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
