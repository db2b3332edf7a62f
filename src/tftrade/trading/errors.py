"""Errors of the trading loop."""

from __future__ import annotations

from tftrade.core.errors import TftradeError


class TradingError(TftradeError):
    """The loop cannot go on: a strategy returned a malformed target, or the book disagrees with the broker."""
