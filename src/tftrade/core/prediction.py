"""The Prediction domain type: one ticker's forecast at one horizon (no I/O, no torch)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Prediction:
    """A quantile forecast of the cumulative log return from ``as_of`` to ``horizon`` bars later.

    ``predicted_return`` is the median (q50); ``confidence_score`` in [0, 1] is the model's
    demonstrated out-of-sample skill at that horizon (see :mod:`tftrade.forecast.prediction`), 0
    when it showed none. ``features_hash`` is the SHA-256 of the exact model inputs. ``stale`` marks a
    forecast from a window whose last bar is ``bar_age_seconds`` older than the universe's latest bar
    (its confidence is 0).
    """

    ticker: str
    horizon: int
    as_of: datetime
    current_price: float
    q10: float
    q50: float
    q90: float
    predicted_return: float
    confidence_score: float
    timeframe: str
    model_version: str
    features_hash: str
    stale: bool = False
    bar_age_seconds: float = 0.0

    @property
    def interval_width(self) -> float:
        """Width of the 10–90 interval, in log-return units."""
        return self.q90 - self.q10
