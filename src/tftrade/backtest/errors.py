"""Errors of the backtest."""

from __future__ import annotations

from tftrade.core.errors import TftradeError


class BacktestError(TftradeError):
    """A backtest cannot run as configured (bad market data, inconsistent inputs)."""
