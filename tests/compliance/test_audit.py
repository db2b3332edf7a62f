"""The hash-chained audit log on SQLite and PostgreSQL: append, verify, tamper, export."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from tftrade.compliance import audit_events
from tftrade.compliance.audit_export import export_bundle, verify_bundle
from tftrade.compliance.audit_log import AuditLog, MemoryAuditLog
from tftrade.compliance.errors import AuditError, AuditTamperError
from tftrade.core.orders import Fill, Order, OrderStatus


class Tick:
    def __init__(self) -> None:
        self.t = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t


def _trade(log: AuditLog | MemoryAuditLog, oid: str = "AAPL-1") -> None:
    audit_events.decision(log, decided_ns=1, strategy_version="tft-1", model_version="m3", features_hash="ab" * 32,
                          targets={"AAPL": 0.05}, order_ids=[oid], rationale={"q50": 0.004})
    audit_events.risk_check(log, order_id=oid, ticker="AAPL", action="resized", requested=100, approved=60,
                            reasons=["max_weight 0.05"], numbers={"weight_after": 0.05})
    audit_events.order_intent(log, Order(oid, "AAPL", 60.0, created_ns=1, rationale="q50 up"))
    audit_events.order_state(log, OrderStatus(oid, "filled", 60.0, 190.1))
    audit_events.fill(log, Fill(oid, "AAPL", 60.0, 190.1, 1.0, 2))


def _unguard(eng: Engine) -> None:
    """What someone with DDL rights could do: remove the append-only triggers."""
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))


def _log(eng: Engine) -> AuditLog:
    log = AuditLog(eng, clock=Tick())
    _trade(log, "AAPL-1")
    _trade(log, "MSFT-2")
    return log


def test_append_verify_and_story(any_engine: Engine) -> None:
    log = _log(any_engine)
    report = log.verify()
    assert report.ok and report.entries == 10 and report.head_seq == 10
    story = log.story("MSFT-2")
    assert [e.kind for e in story] == ["decision", "risk_check", "order_intent", "order_intent", "fill"]
    assert story[1].payload["reasons"] == ["max_weight 0.05"] and story[-1].payload["price"] == "190.1"
    assert [e.seq for e in story] == [6, 7, 8, 9, 10]
    other = AuditLog(any_engine, chain="bt-run-1")
    other.append("note", {"x": 1})
    assert other.verify().ok and log.chains() == {"live": 10, "bt-run-1": 1}


def test_database_refuses_update_and_delete(any_engine: Engine) -> None:
    _log(any_engine)
    for sql in ("UPDATE audit_log SET kind = 'note' WHERE seq = 3", "DELETE FROM audit_log WHERE seq = 3"):
        with pytest.raises(DBAPIError, match="append-only"), any_engine.begin() as conn:
            conn.execute(text(sql))
    assert AuditLog(any_engine).verify().ok


@pytest.mark.parametrize(("tamper", "bad_seq", "words"), [
    ("UPDATE audit_log SET payload = replace(payload, '190.1', '191.1') WHERE seq = 5", 5, "edited"),
    ("DELETE FROM audit_log WHERE seq = 4", 5, "missing"),
    ("UPDATE audit_log SET recorded_at = '2020-01-01T00:00:00+00:00' WHERE seq = 2", 2, "edited"),
])
def test_verify_names_the_first_bad_entry(any_engine: Engine, tamper: str, bad_seq: int, words: str) -> None:
    log = _log(any_engine)
    _unguard(any_engine)
    with any_engine.begin() as conn:
        conn.execute(text(tamper))
    report = log.verify()
    assert not report.ok and report.first_bad_seq == bad_seq and words in (report.problem or "")


def test_verify_detects_reordering_and_insertion(any_engine: Engine) -> None:
    log = _log(any_engine)
    _unguard(any_engine)
    with any_engine.begin() as conn:  # swap entries 3 and 4 (renumbered to look consecutive)
        conn.execute(text("UPDATE audit_log SET seq = -3 WHERE seq = 3"))
        conn.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = 4"))
        conn.execute(text("UPDATE audit_log SET seq = 4 WHERE seq = -3"))
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 3 and "does not link" in (report.problem or "")

    log2 = AuditLog(any_engine, chain="ins", clock=Tick())
    _trade(log2)
    forged = MemoryAuditLog("ins", clock=Tick())  # an insertion: a well-formed entry spliced in at 3
    for e in log2.entries()[:2]:
        forged._entries.append(e)
    fake = forged.append("note", {"forged": True})
    with any_engine.begin() as conn:
        for seq in (5, 4, 3):
            for table in ("audit_log", "audit_order_refs"):  # a careful forger moves the index too
                conn.execute(text(f"UPDATE {table} SET seq = {seq + 1} WHERE chain = 'ins' AND seq = {seq}"))
        conn.execute(text("INSERT INTO audit_log VALUES ('ins', 3, 'note', :t, :b, :p, :h)"),
                     {"t": fake.recorded_at, "b": fake.body, "p": fake.prev_hash, "h": fake.entry_hash})
    report = log2.verify()
    assert not report.ok and report.first_bad_seq == 4  # the first entry after the insertion no longer links


def test_truncation_is_found_against_an_exported_head(any_engine: Engine, tmp_path: Path) -> None:
    log = _log(any_engine)
    info = export_bundle(log, tmp_path / "b.json", signed_off_by="cco", now=datetime(2026, 1, 6, tzinfo=UTC),
                         key=b"k")
    assert info["head_seq"] == 10 and log.entries()[-1].kind == "export"
    assert verify_bundle(tmp_path / "b.json", key=b"k").ok
    _unguard(any_engine)
    with any_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 9"))
    assert log.verify().ok  # a cut end looks like a shorter chain ...
    report = log.verify(expect_head=info["head_hash"])  # ... but not against the head kept elsewhere
    assert not report.ok and "removed from its end" in (report.problem or "")


def test_bundle_tampering_and_wrong_key(tmp_path: Path, sqlite_engine: Engine) -> None:
    log = _log(sqlite_engine)
    path = tmp_path / "b.json"
    export_bundle(log, path, signed_off_by="cco", now=datetime(2026, 1, 6, tzinfo=UTC), key=b"k")
    with pytest.raises(AuditTamperError, match="signature"):
        verify_bundle(path, key=b"other")
    bundle = json.loads(path.read_text())
    bundle["entries"][2]["body"] = bundle["entries"][2]["body"].replace("60", "600")
    path.write_text(json.dumps(bundle))
    with pytest.raises(AuditTamperError, match="digest"):
        verify_bundle(path)


def test_bad_payloads_are_refused_and_nothing_written(sqlite_engine: Engine) -> None:
    log = AuditLog(sqlite_engine)
    with pytest.raises(AuditError, match="kind"):
        log.append("gossip", {})
    with pytest.raises(AuditError, match="non-finite"):
        log.append("note", {"x": float("nan")})
    with pytest.raises(AuditError, match="cannot record"):
        log.append("note", {"x": object()})
    assert log.entries() == [] and log.head() is None


def test_memory_chain_matches_database_chain(sqlite_engine: Engine) -> None:
    mem, db = MemoryAuditLog("live", clock=Tick()), AuditLog(sqlite_engine, clock=Tick())
    _trade(mem)
    _trade(db)
    assert [e.entry_hash for e in mem.entries()] == [e.entry_hash for e in db.entries()]


def test_concurrent_writers_keep_one_unbroken_chain(any_engine: Engine) -> None:
    import threading

    log = AuditLog(any_engine, chain="busy")
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(25):
                log.append("note", {"writer": name, "i": i}, order_ids=[f"{name}-{i}"])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = log.verify()
    assert report.ok and report.entries == 50
