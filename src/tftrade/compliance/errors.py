"""Errors raised by :mod:`tftrade.compliance`."""

from __future__ import annotations

from tftrade.core.errors import TftradeError


class ComplianceError(TftradeError):
    """Root of the compliance package's errors."""


class AuditError(ComplianceError):
    """An audit entry cannot be appended or read (bad kind, unserialisable payload)."""


class AuditTamperError(AuditError):
    """The audit chain does not verify: an entry was edited, deleted, inserted or reordered."""


class TaxLotError(ComplianceError):
    """A transaction cannot be booked: out of order, oversold, bad split, unknown lot."""


class TaxImportError(TaxLotError):
    """A broker history file cannot be read (missing column, malformed value); names file and row."""


class TaxReportError(ComplianceError):
    """A tax report cannot be produced (for example, a year with no dispositions)."""
