"""The ingest-run log and the quarantine: what came in, what was kept, what was rejected and why."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, select, update

from tftrade.store.schema import ingest_runs, quarantine


def start_run(engine: Engine, kind: str, source: str) -> int:
    """Record the start of an ingest in its own transaction and return its id.

    Runs left ``running`` by a process that has since died are marked ``aborted`` first.
    """
    mark_abandoned_runs(engine)
    with engine.begin() as conn:
        result = conn.execute(
            insert(ingest_runs).values(kind=kind, source=source[:512], started_at=datetime.now(UTC),
                                       status="running", owner=process_owner())
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def process_owner(pid: int | None = None) -> str:
    """``host:pid:start`` of a process; ``start`` (its start time in clock ticks) tells a reused pid apart."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_process_start(pid) or ''}"[:128]


def _process_start(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _owner_alive(owner: str) -> bool | None:
    """True/False for a process on this host; None when it runs elsewhere (cannot tell)."""
    parts = owner.split(":")
    if len(parts) < 3:
        return False
    host, pid_text, start = ":".join(parts[:-2]), parts[-2], parts[-1]
    if host != socket.gethostname():
        return None
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if Path("/proc").is_dir():
        return bool(start) and _process_start(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_abandoned_runs(engine: Engine) -> int:
    """Mark ``aborted`` every run still ``running`` whose process on this host has ended.

    Runs without an owner (written before owners were recorded) count as ended. Returns
    how many runs were marked.
    """
    with engine.begin() as conn:
        rows = conn.execute(select(ingest_runs.c.id, ingest_runs.c.owner)
                            .where(ingest_runs.c.status == "running")).all()
        dead = [r.id for r in rows if r.owner is None or _owner_alive(r.owner) is False]
        if dead:
            conn.execute(update(ingest_runs).where(ingest_runs.c.id.in_(dead)).values(
                status="aborted", finished_at=datetime.now(UTC),
                error="the process running this ingest ended before it finished; nothing of it was stored"))
    return len(dead)


def finish_run(conn: Connection | Engine, run_id: int, status: str, counts: dict[str, int],
               report: dict[str, Any] | None = None, error: str | None = None) -> None:
    """Close a run with its counts (inside the batch's transaction when given a connection)."""
    stmt = (
        update(ingest_runs)
        .where(ingest_runs.c.id == run_id)
        .values(finished_at=datetime.now(UTC), status=status, error=error,
                report=json.dumps(report, default=str) if report is not None else None, **counts)
    )
    if isinstance(conn, Engine):
        with conn.begin() as c:
            c.execute(stmt)
    else:
        conn.execute(stmt)


def quarantine_rows(conn: Connection, source: str, rejects: pd.DataFrame) -> int:
    """Store rejected rows (row_number, raw JSON, reason); a row quarantined before is not stored twice.

    Returns the number of new quarantine rows.
    """
    if rejects.empty:
        return 0
    source = source[:512]
    rows = [
        {"source": source, "row_number": None if pd.isna(r.row_number) else int(r.row_number),
         "raw": r.raw, "reason": r.reason, "row_hash": _row_hash(r.row_number, r.raw, r.reason)}
        for r in rejects.itertuples(index=False)
    ]
    hashes = [r["row_hash"] for r in rows]
    existing: set[str] = set()
    for start in range(0, len(hashes), 5000):  # stay under SQLite's bound-parameter limit
        chunk = hashes[start : start + 5000]
        query = select(quarantine.c.row_hash).where(quarantine.c.source == source, quarantine.c.row_hash.in_(chunk))
        existing.update(conn.execute(query).scalars())
    fresh = {r["row_hash"]: r for r in rows if r["row_hash"] not in existing}
    if fresh:
        conn.execute(insert(quarantine), list(fresh.values()))
    return len(fresh)


def _row_hash(row_number: object, raw: str, reason: str) -> str:
    return hashlib.sha256(f"{row_number}\x1f{raw}\x1f{reason}".encode()).hexdigest()


def list_quarantine(engine: Engine, limit: int = 100) -> dict[str, Any]:
    """The newest quarantined rows and the total count."""
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(quarantine)).scalar_one()
        rows = conn.execute(
            select(quarantine.c.source, quarantine.c.row_number, quarantine.c.reason, quarantine.c.raw,
                   quarantine.c.quarantined_at)
            .order_by(quarantine.c.id.desc()).limit(limit)
        ).all()
    return {"total": int(total), "rows": [dict(r._mapping) for r in rows]}


def list_runs(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ingest runs."""
    with engine.connect() as conn:
        rows = conn.execute(select(ingest_runs).order_by(ingest_runs.c.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]
