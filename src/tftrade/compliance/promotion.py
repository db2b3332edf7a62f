"""Promote a model version to champion with the audit trail first: never a champion change left unrecorded.

The registry (MLflow) and the audit chain (the database) are two stores, so the change cannot be
one transaction. :func:`promote_audited` orders it so every failure leaves a true record:

1. check the promotion is allowed (the version exists; ``loses_to_baseline`` needs ``force``):
   a refusal writes nothing and changes nothing;
2. append the ``model_promotion`` entry: if that fails the champion is **not** touched
   (:class:`PromotionNotRecordedError`);
3. set the champion alias: if that fails, a second ``model_promotion`` entry with
   ``"outcome": "not_applied"`` and the cause follows the first, so the chain says the
   promotion was recorded and then not carried out (:class:`PromotionNotAppliedError`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tftrade.compliance import audit_events
from tftrade.compliance.audit_log import AuditSink
from tftrade.compliance.errors import AuditError
from tftrade.core.errors import first_line
from tftrade.forecast.registry import ModelRegistry

log = logging.getLogger(__name__)


class PromotionNotRecordedError(AuditError):
    """The audit entry of a promotion could not be written; the champion was left as it was."""


class PromotionNotAppliedError(AuditError):
    """The promotion was recorded but the registry refused the champion change (the chain says so)."""


@dataclass(frozen=True)
class Promotion:
    """A promotion carried out: who, what it replaced, the version's ``status`` tag, the audit entry's ``seq``."""

    model: str
    version: str
    previous: str | None
    approved_by: str
    status: str | None
    audit_seq: int


def promote_audited(registry: ModelRegistry, sink: AuditSink, version: str, *, approved_by: str,
                    force: bool = False) -> Promotion:
    """Make ``version`` the champion of ``registry``, recorded in ``sink`` before the change (module text).

    Raises
    ------
    ModelNotFoundError, PromotionRefusedError
        The promotion is not allowed (nothing written, nothing changed).
    PromotionNotRecordedError
        The audit entry could not be written (the champion is unchanged).
    PromotionNotAppliedError
        The registry failed after the entry was written (the champion is unchanged; the chain holds a
        ``not_applied`` entry after the promotion's, unless the store failed for that too: the message says).
    """
    checked = registry.promotable(version, force=force)
    status, previous = checked.tags.get("status"), checked.previous
    was = previous or "none"
    try:
        entry = audit_events.model_promotion(sink, model=registry.name, version=version, previous=previous,
                                             metrics=checked.metrics, approved_by=approved_by)
    except Exception as e:
        raise PromotionNotRecordedError(
            f"model {registry.name!r} version {version} not promoted: the audit entry could not be written "
            f"({first_line(e)}); the champion is still {was}") from e
    try:
        registry.promote(version, approved_by=approved_by, force=force, checked=checked)
    except Exception as e:
        cause = first_line(e)
        try:
            applied = registry.champion() == version
        except Exception:  # the registry cannot be read back either: say it was not applied, as far as we know
            applied = False
        if applied:  # the alias moved and a later step (the promoted_by tag) failed: promoted, and recorded
            log.warning("model %s version %s is the champion (audit #%s) but tagging it failed: %s",
                        registry.name, version, entry.seq, cause)
            return Promotion(registry.name, version, previous, approved_by, status, entry.seq)
        try:
            undo = audit_events.model_promotion(sink, model=registry.name, version=version, previous=previous,
                                                approved_by=approved_by, recorded_seq=entry.seq, error=cause)
            note = f"audit #{undo.seq} records that #{entry.seq} was not applied"
        except Exception as e2:
            log.error("promotion of %s version %s recorded as #%s but not applied, and that could not be "
                      "recorded either: %s", registry.name, version, entry.seq, first_line(e2))
            note = f"audit #{entry.seq} records it but its not-applied entry could not be written: {first_line(e2)}"
        raise PromotionNotAppliedError(
            f"model {registry.name!r} version {version} not promoted: the registry failed ({cause}); "
            f"the champion is still {was}; {note}") from e
    return Promotion(registry.name, version, previous, approved_by, status, entry.seq)
