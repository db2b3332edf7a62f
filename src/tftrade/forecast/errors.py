"""Errors raised by the forecasting package."""

from __future__ import annotations

from tftrade.core.errors import NotFoundError, TftradeError


class ForecastError(TftradeError):
    """A model cannot be trained, loaded or applied to the given inputs."""


class InsufficientHistoryError(ForecastError):
    """A ticker has fewer bars than the model's context (plus warm-up) needs."""


class UnknownTickerError(ForecastError, NotFoundError):
    """A ticker was not in the model's training universe."""


class ModelNotFoundError(ForecastError, NotFoundError):
    """No registered model (or no such version) exists."""


class PromotionRefusedError(ForecastError):
    """A version may not become the champion (it lost to a baseline and the promotion was not forced)."""
