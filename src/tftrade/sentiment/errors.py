"""Errors of the sentiment engine."""

from __future__ import annotations

from tftrade.core.errors import TftradeError


class SentimentError(TftradeError):
    """A scorer, head artifact or aggregation request is invalid or unavailable."""
