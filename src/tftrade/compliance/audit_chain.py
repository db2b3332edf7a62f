r"""The hash chain: what an audit entry is, how its hash is computed, how a chain is verified.

Entry :math:`n` of a chain stores its sequence number, kind, time, canonical JSON body
(``{"data": payload, "order_ids": [...]}``), the hash :math:`h_{n-1}` of the entry before
(64 zeros for the first) and its own hash

.. math::

    h_n = \operatorname{SHA256}\big(\text{canonical JSON of }
          [\text{chain}, n, \text{kind}, \text{recorded\_at}, h_{n-1}, \text{body}]\big).

Changing any field of an entry changes :math:`h_n`; deleting, inserting or moving an entry
breaks the sequence numbers or the link :math:`h_{n-1}`. Truncating the end of a chain is
only visible against a head hash kept elsewhere (an export bundle), which ``verify`` accepts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from tftrade.compliance.canonical import canonical_json, sha256_hex
from tftrade.compliance.errors import AuditError

AuditKind = Literal["decision", "risk_check", "order_intent", "fill", "config_change", "model_promotion",
                    "tax_import", "export", "note"]
AUDIT_KINDS: tuple[str, ...] = get_args(AuditKind)
GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored entry; ``body`` is the canonical JSON text that was hashed."""

    chain: str
    seq: int
    kind: str
    recorded_at: str
    body: str
    prev_hash: str
    entry_hash: str

    @property
    def payload(self) -> dict[str, Any]:
        """The recorded payload."""
        data: dict[str, Any] = json.loads(self.body)["data"]
        return data

    @property
    def order_ids(self) -> tuple[str, ...]:
        """Orders this entry concerns."""
        return tuple(json.loads(self.body).get("order_ids", []))


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Result of verifying a chain: ``ok``, or the first bad entry and what is wrong with it."""

    chain: str
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None
    checked: tuple[str, ...] = field(default=("hashes", "links", "sequence"))


def make_body(payload: Any, order_ids: Iterable[str] = ()) -> str:
    """The canonical body of an entry."""
    if not isinstance(payload, dict):
        raise AuditError(f"an audit payload must be a mapping, not {type(payload).__name__}")
    return canonical_json({"data": payload, "order_ids": sorted({str(o) for o in order_ids})})


def entry_hash(chain: str, seq: int, kind: str, recorded_at: str, prev_hash: str, body: str) -> str:
    """:math:`h_n` of the module docstring."""
    return sha256_hex(canonical_json([chain, seq, kind, recorded_at, prev_hash, body]))


def check_kind(kind: str) -> str:
    """Return ``kind`` if it is one of :data:`AUDIT_KINDS`, else raise :class:`AuditError`."""
    if kind not in AUDIT_KINDS:
        raise AuditError(f"audit kind {kind!r} is not one of {', '.join(AUDIT_KINDS)}")
    return kind


def next_entry(chain: str, last: AuditEntry | None, kind: str, recorded_at: str, body: str) -> AuditEntry:
    """The entry that follows ``last`` (``None`` for the first)."""
    seq = 1 if last is None else last.seq + 1
    prev = GENESIS if last is None else last.entry_hash
    return AuditEntry(chain, seq, check_kind(kind), recorded_at, body, prev,
                      entry_hash(chain, seq, kind, recorded_at, prev, body))


def verify_entries(chain: str, entries: Sequence[AuditEntry], expect_head: str | None = None,
                   refs: dict[int, set[str]] | None = None) -> VerifyReport:
    """Check a chain's entries (in stored ``seq`` order) and name the first bad one.

    ``expect_head`` is a head hash recorded earlier (for example in an export bundle): the
    chain must contain it, else entries were removed from its end. ``refs`` is the order
    index (``seq`` → order ids) to cross-check against the hashed bodies.
    """
    prev_hash, expected_seq = GENESIS, 1
    for e in entries:
        problem = _problem(chain, e, expected_seq, prev_hash, refs)
        if problem is not None:
            return VerifyReport(chain, False, len(entries), expected_seq - 1, prev_hash, e.seq, problem)
        prev_hash, expected_seq = e.entry_hash, e.seq + 1
    head_seq = expected_seq - 1
    if expect_head is not None and expect_head not in {e.entry_hash for e in entries}:
        return VerifyReport(chain, False, len(entries), head_seq, prev_hash, head_seq + 1,
                            f"the expected head {expect_head[:16]}… is not in the chain, which ends at entry "
                            f"{head_seq}: entries were removed from its end or the chain was rebuilt")
    return VerifyReport(chain, True, len(entries), head_seq, prev_hash)


def _problem(chain: str, e: AuditEntry, expected_seq: int, prev_hash: str,
             refs: dict[int, set[str]] | None) -> str | None:
    if e.seq != expected_seq:
        return (f"entry {e.seq} follows entry {expected_seq - 1}: entries {expected_seq}–{e.seq - 1} are missing "
                "(deleted)" if e.seq > expected_seq else f"entry {e.seq} is out of sequence (expected {expected_seq})")
    if e.prev_hash != prev_hash:
        return (f"entry {e.seq} does not link to entry {e.seq - 1} (previous hash differs): an entry was "
                f"inserted, deleted or reordered, or entry {e.seq - 1} was rewritten")
    if entry_hash(chain, e.seq, e.kind, e.recorded_at, e.prev_hash, e.body) != e.entry_hash:
        return f"entry {e.seq} was edited: its hash does not match its contents"
    try:
        body = json.loads(e.body)
        canonical = make_body(body["data"], body.get("order_ids", []))
    except (ValueError, KeyError, TypeError, AuditError):
        return f"entry {e.seq} has a malformed body"
    if canonical != e.body:
        return f"entry {e.seq} has a body that is not canonical JSON"
    if refs is not None and refs.get(e.seq, set()) != set(body.get("order_ids", [])):
        return f"entry {e.seq}: the order index differs from the order ids in the entry"
    return None
