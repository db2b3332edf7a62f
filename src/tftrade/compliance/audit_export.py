"""Audit export bundles: the entries, the head hash and a sign-off, verifiable offline.

A bundle is one JSON file::

    {"format": "tftrade-audit-bundle/1", "chain": ..., "exported_at": ..., "signed_off_by": ...,
     "head": {"seq": n, "hash": h_n}, "verify": {...}, "entries": [...],
     "digest": sha256 of the canonical JSON of everything above,
     "hmac": HMAC-SHA256 of the digest under the signing key, or null}

Keep the head hash somewhere the database's administrators cannot write (the bundle
itself, a ticket, an e-mail): ``tftrade audit verify --expect-head`` then also detects
entries removed from the end of the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from tftrade.compliance.audit_chain import AuditEntry, VerifyReport, verify_entries
from tftrade.compliance.audit_log import AuditLog
from tftrade.compliance.canonical import canonical_json, sha256_hex
from tftrade.compliance.errors import AuditError, AuditTamperError

FORMAT = "tftrade-audit-bundle/1"


def export_bundle(log: AuditLog, path: Path, *, signed_off_by: str, now: datetime,
                  key: bytes | None = None) -> dict[str, Any]:
    """Verify ``log``'s chain and write its bundle to ``path``; record the export in the chain.

    Raises
    ------
    AuditTamperError
        If the chain does not verify (nothing is written).
    """
    entries = log.entries()
    report = verify_entries(log.chain, entries)
    if not report.ok:
        raise AuditTamperError(f"audit chain {log.chain!r} does not verify, not exporting: {report.problem}")
    if not entries:
        raise AuditError(f"audit chain {log.chain!r} is empty; nothing to export")
    bundle: dict[str, Any] = {
        "format": FORMAT, "chain": log.chain, "exported_at": now.isoformat(), "signed_off_by": signed_off_by,
        "head": {"seq": report.head_seq, "hash": report.head_hash}, "verify": asdict(report),
        "entries": [asdict(e) for e in entries],
    }
    digest = sha256_hex(canonical_json(bundle))
    bundle["digest"] = digest
    bundle["hmac"] = hmac.new(key, digest.encode(), hashlib.sha256).hexdigest() if key else None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(bundle, indent=1, sort_keys=True))
    tmp.replace(path)
    log.append("export", {"path": str(path), "head_seq": report.head_seq, "head_hash": report.head_hash,
                          "digest": digest, "signed_off_by": signed_off_by})
    return {"path": path, "chain": log.chain, "entries": len(entries), "head_seq": report.head_seq,
            "head_hash": report.head_hash, "digest": digest, "signed": key is not None}


def verify_bundle(path: Path, key: bytes | None = None) -> VerifyReport:
    """Verify a bundle file offline: its digest, its HMAC (when ``key`` is given) and its chain.

    Raises
    ------
    AuditTamperError
        If the file's digest or signature does not match its contents.
    """
    try:
        bundle = json.loads(path.read_text())
        claimed, signature = bundle.pop("digest"), bundle.pop("hmac")
        entries = [AuditEntry(**e) for e in bundle["entries"]]
    except (ValueError, KeyError, TypeError) as e:
        raise AuditError(f"{path} is not a tftrade audit bundle: {e}") from None
    if sha256_hex(canonical_json(bundle)) != claimed:
        raise AuditTamperError(f"{path}: the bundle was altered after export (digest mismatch)")
    if key is not None and (signature is None or not hmac.compare_digest(
            signature, hmac.new(key, claimed.encode(), hashlib.sha256).hexdigest())):
        raise AuditTamperError(f"{path}: the signature does not match (wrong key or altered bundle)")
    return verify_entries(bundle["chain"], entries, bundle["head"]["hash"])
