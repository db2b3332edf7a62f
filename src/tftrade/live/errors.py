"""Errors of live trading."""

from __future__ import annotations

from tftrade.core.errors import TftradeError


class LiveError(TftradeError):
    """Live trading cannot start or go on (bad universe, lease held elsewhere, unknown broker or source)."""
