"""Errors raised by feature construction."""

from __future__ import annotations

from tftrade.core.errors import DataError


class FeatureError(DataError):
    """Inputs cannot be turned into features (NaNs, too little history, bad shapes)."""
