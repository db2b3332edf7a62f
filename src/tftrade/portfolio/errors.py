"""Errors raised by :mod:`tftrade.portfolio`."""

from __future__ import annotations

from tftrade.core.errors import TftradeError


class PortfolioError(TftradeError):
    """Portfolio inputs are invalid (shapes, non-finite values, bad confidences)."""


class OptimizationError(PortfolioError):
    """The optimiser failed even after every documented relaxation."""
