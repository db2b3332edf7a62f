"""The Prediction domain type: one ticker's forecast at one horizon (no I/O, no torch)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Prediction:
    """A quantile forecast of the cumulative log return from ``as_of`` to ``horizon`` bars later.

    ``predicted_return`` is the median (q50); ``confidence_score`` in (0, 1) falls as the
    10–90 interval widens (see :func:`tftrade.forecast.prediction.confidence_score`).
    ``features_hash`` is the SHA-256 of the exact model inputs.
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

    @property
    def interval_width(self) -> float:
        """Width of the 10–90 interval, in log-return units."""
        return self.q90 - self.q10
