"""Sentiment features per bar: score, bullish/bearish share, comment volume, momentum.

When no sentiment data exist every feature is zero and ``sentiment_present`` is 0,
so one model schema serves tickers with and without social data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tftrade.core.types import Float64Array, Int64Array
from tftrade.features.technical import ema

SENTIMENT_FEATURES = [
    "sentiment_score", "sentiment_bullish", "sentiment_bearish", "comment_volume",
    "sentiment_momentum", "sentiment_present",
]
BULLISH, BEARISH = 0.3, -0.3


def sentiment_features(
    score: Float64Array | None, count: Float64Array | None, shape: tuple[int, int]
) -> dict[str, Float64Array]:
    """Return sentiment features, each time × ticker.

    Parameters
    ----------
    score
        Average sentiment score of each bar in [-1, 1] (NaN where a bar has no comments), or ``None``.
    count
        Comments per bar (``None``: one wherever ``score`` is finite).
    shape
        ``(T, N)``, used when ``score`` is ``None``.

    Examples
    --------
    >>> f = sentiment_features(None, None, (3, 2))
    >>> float(f["sentiment_present"].sum()), sorted(f) == sorted(SENTIMENT_FEATURES)
    (0.0, True)
    """
    if score is None:
        return {name: np.zeros(shape) for name in SENTIMENT_FEATURES}
    has = np.isfinite(score)
    s = np.where(has, score, 0.0)
    n = np.where(has, 1.0, 0.0) if count is None else np.asarray(count, dtype=np.float64)
    return {
        "sentiment_score": s,
        "sentiment_bullish": ema((s > BULLISH).astype(np.float64), 10),
        "sentiment_bearish": ema((s < BEARISH).astype(np.float64), 10),
        "comment_volume": np.log1p(n),
        "sentiment_momentum": ema(s, 5) - ema(s, 20),
        "sentiment_present": np.ones(shape),
    }


def aggregate_comments(
    comments: pd.DataFrame, timestamps: Int64Array, tickers: list[str], tone_column: str = "score"
) -> tuple[Float64Array, Float64Array]:
    """Average a comment table onto bars: returns (mean tone, count), each time × ticker.

    A comment counts toward the last bar that started at or before its ``created_utc``
    (seconds). Rows with unknown tickers or a missing tone are dropped.
    """
    idx = {t: i for i, t in enumerate(tickers)}
    frame = comments[comments["ticker"].isin(idx) & comments[tone_column].notna()]
    bar = np.searchsorted(timestamps, frame["created_utc"].to_numpy(np.int64) * 1_000_000_000, side="right") - 1
    col = frame["ticker"].map(idx).to_numpy(np.int64)
    keep = bar >= 0
    shape = (len(timestamps), len(tickers))
    total, count = np.zeros(shape), np.zeros(shape)
    np.add.at(total, (bar[keep], col[keep]), frame[tone_column].to_numpy(np.float64)[keep])
    np.add.at(count, (bar[keep], col[keep]), 1.0)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan), count


