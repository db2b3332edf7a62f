"""Errors raised by :mod:`tftrade.risk`."""

from __future__ import annotations

from tftrade.core.errors import TftradeError


class RiskError(TftradeError):
    """Risk inputs are invalid (shapes, non-finite values, out-of-range levels)."""
