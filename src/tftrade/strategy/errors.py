"""Errors of the strategy layer."""

from __future__ import annotations

from tftrade.core.errors import TftradeError


class StrategyError(TftradeError):
    """Strategy inputs are inconsistent (forecast arrays of the wrong shape, unknown fields)."""
