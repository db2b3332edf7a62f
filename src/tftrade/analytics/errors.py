"""Errors raised by :mod:`tftrade.analytics`."""

from __future__ import annotations

from tftrade.core.errors import TftradeError


class AnalyticsError(TftradeError):
    """Analytics inputs are invalid (shapes, lengths, empty series)."""
