"""The audit log: an append-only, hash-chained record that other packages write to.

``AuditSink`` is the port (what the trading loop, the risk gate's caller, the order manager
and the model registry are given); :class:`AuditLog` stores it in the database table
``audit_log`` (append-only by trigger), :class:`MemoryAuditLog` in memory (a backtest's own
chain). Both verify the same way.

Examples
--------
>>> log = MemoryAuditLog()
>>> _ = log.append("decision", {"ticker": "AAPL", "target": "0.05"}, order_ids=["AAPL-1"])
>>> _ = log.append("fill", {"price": "190.10", "quantity": "10"}, order_ids=["AAPL-1"])
>>> log.verify().ok, [e.kind for e in log.story("AAPL-1")]
(True, ['decision', 'fill'])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, func, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from tftrade.compliance.audit_chain import AuditEntry, VerifyReport, make_body, next_entry, verify_entries
from tftrade.compliance.errors import AuditError, AuditTamperError
from tftrade.store.schema_compliance import audit_log, audit_order_refs

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuditSink(Protocol):
    """Where audit entries go: the hook the trading loop and its collaborators are given."""

    def append(self, kind: str, payload: dict[str, Any], *, order_ids: Iterable[str] = ()) -> AuditEntry:
        """Append one entry and return it (with its sequence number and hash)."""
        ...


class MemoryAuditLog:
    """A chain in memory (a backtest's own chain); same entries and checks as :class:`AuditLog`."""

    def __init__(self, chain: str = "backtest", clock: Clock = _utc_now) -> None:
        self.chain = chain
        self._clock = clock
        self._entries: list[AuditEntry] = []

    def append(self, kind: str, payload: dict[str, Any], *, order_ids: Iterable[str] = ()) -> AuditEntry:
        """Append one entry."""
        entry = next_entry(self.chain, self._entries[-1] if self._entries else None, kind,
                           self._clock().isoformat(), make_body(payload, order_ids))
        self._entries.append(entry)
        return entry

    def append_many(self, items: Iterable[tuple[str, dict[str, Any], Iterable[str]]]) -> list[AuditEntry]:
        """Append several entries (all or none: a bad one leaves the chain as it was)."""
        staged = [(kind, make_body(payload, ids)) for kind, payload, ids in items]
        out: list[AuditEntry] = []
        last = self._entries[-1] if self._entries else None
        now = self._clock().isoformat()  # one batch, one time
        for kind, body in staged:
            last = next_entry(self.chain, last, kind, now, body)
            out.append(last)
        self._entries.extend(out)
        return out

    def entries(self) -> list[AuditEntry]:
        """All entries in order."""
        return list(self._entries)

    def story(self, order_id: str) -> list[AuditEntry]:
        """Entries that concern ``order_id``, in order."""
        return [e for e in self._entries if order_id in e.order_ids]

    def verify(self, expect_head: str | None = None) -> VerifyReport:
        """Verify the chain."""
        return verify_entries(self.chain, self._entries, expect_head)


class AuditLog:
    """The audit chain ``chain`` in the database (``live`` by default).

    Appends are serialised per chain (an advisory lock on PostgreSQL; SQLite serialises
    writers) and retried if another writer took the same sequence number.
    """

    def __init__(self, engine: Engine, chain: str = "live", clock: Clock = _utc_now) -> None:
        if not chain or len(chain) > 64:
            raise AuditError(f"audit chain name {chain!r} must be 1–64 characters")
        self.engine = engine
        self.chain = chain
        self._clock = clock

    def append(self, kind: str, payload: dict[str, Any], *, order_ids: Iterable[str] = ()) -> AuditEntry:
        """Append one entry in its own transaction and return it.

        Raises
        ------
        AuditError
            For an unknown kind or a payload JSON cannot hold (nothing is written).
        """
        return self.append_many([(kind, payload, tuple(order_ids))])[0]

    def append_many(self, items: Iterable[tuple[str, dict[str, Any], Iterable[str]]]) -> list[AuditEntry]:
        """Append several entries in one transaction (all or none)."""
        staged = [(kind, make_body(payload, ids), sorted({str(i) for i in ids})) for kind, payload, ids in items]
        if not staged:
            return []
        for attempt in range(8):
            try:
                return self._write(staged)
            except (IntegrityError, OperationalError) as e:
                retry = isinstance(e, IntegrityError) or "locked" in str(e.orig)  # SQLite: another writer
                if not retry or attempt == 7:
                    raise AuditError(f"could not append to audit chain {self.chain!r}: "
                                     f"{'concurrent writers' if retry else e.orig}") from None
                time.sleep(0.005 * 2**attempt)
        raise AssertionError("unreachable")

    def _write(self, staged: list[tuple[str, str, list[str]]]) -> list[AuditEntry]:
        out: list[AuditEntry] = []
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:c))"), {"c": "audit:" + self.chain})
            last = self._last(conn)
            refs = []
            for kind, body, ids in staged:
                last = next_entry(self.chain, last, kind, self._clock().isoformat(), body)
                out.append(last)
                refs += [{"chain": self.chain, "seq": last.seq, "order_id": i} for i in ids]
            conn.execute(insert(audit_log), [
                {"chain": e.chain, "seq": e.seq, "kind": e.kind, "recorded_at": e.recorded_at, "payload": e.body,
                 "prev_hash": e.prev_hash, "entry_hash": e.entry_hash} for e in out])
            if refs:
                conn.execute(insert(audit_order_refs), refs)
        return out

    def _last(self, conn: Any) -> AuditEntry | None:
        row = conn.execute(select(audit_log).where(audit_log.c.chain == self.chain)
                           .order_by(audit_log.c.seq.desc()).limit(1)).first()
        return None if row is None else _entry(row)

    def head(self) -> AuditEntry | None:
        """The newest entry (``None`` for an empty chain)."""
        with self.engine.connect() as conn:
            return self._last(conn)

    def entries(self, since_seq: int = 0, kinds: Iterable[str] | None = None) -> list[AuditEntry]:
        """Entries after ``since_seq`` in order, optionally of some kinds only."""
        q = select(audit_log).where(audit_log.c.chain == self.chain, audit_log.c.seq > since_seq)
        if kinds is not None:
            q = q.where(audit_log.c.kind.in_(list(kinds)))
        with self.engine.connect() as conn:
            return [_entry(r) for r in conn.execute(q.order_by(audit_log.c.seq))]

    def story(self, order_id: str) -> list[AuditEntry]:
        """Every entry that concerns ``order_id`` (decision, checks, order states, fills), in order."""
        seqs = select(audit_order_refs.c.seq).where(audit_order_refs.c.chain == self.chain,
                                                    audit_order_refs.c.order_id == order_id)
        q = select(audit_log).where(audit_log.c.chain == self.chain, audit_log.c.seq.in_(seqs))
        with self.engine.connect() as conn:
            return [_entry(r) for r in conn.execute(q.order_by(audit_log.c.seq))]

    def verify(self, expect_head: str | None = None) -> VerifyReport:
        """Verify the whole chain (hashes, links, sequence, order index) and name the first bad entry."""
        refs: dict[int, set[str]] = {}
        with self.engine.connect() as conn:
            for seq, oid in conn.execute(select(audit_order_refs.c.seq, audit_order_refs.c.order_id)
                                         .where(audit_order_refs.c.chain == self.chain)):
                refs.setdefault(int(seq), set()).add(str(oid))
        return verify_entries(self.chain, self.entries(), expect_head, refs)

    def adopt(self, chain: Iterable[AuditEntry], conn: Connection | None = None) -> int:
        """Store a chain kept elsewhere (a backtest's :class:`MemoryAuditLog`) as this chain, hashes unchanged.

        With ``conn`` the entries are written in that connection's open transaction (a backtest
        run saves its trades, its folder and its chain together); otherwise in a transaction of
        their own.

        Raises
        ------
        AuditError
            If this chain is not empty, or the entries belong to another chain.
        AuditTamperError
            If the entries do not verify (nothing is written).
        """
        entries = list(chain)
        if any(e.chain != self.chain for e in entries):
            raise AuditError(f"entries of another chain cannot be adopted as {self.chain!r}")
        report = verify_entries(self.chain, entries)
        if not report.ok:
            raise AuditTamperError(f"chain {self.chain!r} to adopt does not verify: {report.problem}")
        if conn is not None:
            self._adopt(conn, entries)
        else:
            with self.engine.begin() as own:
                self._adopt(own, entries)
        return len(entries)

    def _adopt(self, conn: Connection, entries: list[AuditEntry]) -> None:
        if self._last(conn) is not None:
            raise AuditError(f"audit chain {self.chain!r} already has entries; adopt into a new chain")
        if not entries:
            return
        conn.execute(insert(audit_log), [{"chain": e.chain, "seq": e.seq, "kind": e.kind, "recorded_at": e.recorded_at,
                                          "payload": e.body, "prev_hash": e.prev_hash, "entry_hash": e.entry_hash}
                                         for e in entries])
        refs = [{"chain": e.chain, "seq": e.seq, "order_id": i} for e in entries for i in e.order_ids]
        if refs:
            conn.execute(insert(audit_order_refs), refs)

    def chains(self) -> dict[str, int]:
        """Every chain in the table and its number of entries."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit_log.c.chain, func.count()).group_by(audit_log.c.chain))
            return {str(c): int(n) for c, n in rows}


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(row.chain, int(row.seq), row.kind, row.recorded_at, row.payload, row.prev_hash, row.entry_hash)
