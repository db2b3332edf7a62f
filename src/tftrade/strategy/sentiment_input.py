"""Sentiment as a strategy input: a smoothed per-ticker score on the market's timestamps.

The raw input is the average comment sentiment per bar window (``reddit_sentiment_aggregated``,
NaN where nobody wrote). The strategy sees an exponentially weighted mean of the windows up to
and including the decision bar (``halflife`` bars; causal), NaN until a ticker's first comment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tftrade.core.types import Float64Array, Int64Array


@dataclass(frozen=True)
class SentimentPanel:
    """Smoothed sentiment ``(T, n)`` on ``timestamps``."""

    timestamps: Int64Array
    tickers: tuple[str, ...]
    score: Float64Array

    @classmethod
    def from_raw(cls, timestamps: Int64Array, tickers: tuple[str, ...], raw: Float64Array,
                 halflife: float = 30.0) -> SentimentPanel:
        """Smooth a raw ``(T, n)`` per-window average (NaN = no comments) with a causal EWMA.

        >>> p = SentimentPanel.from_raw(np.arange(3), ("X",), np.array([[np.nan], [1.0], [np.nan]]))
        >>> np.round(p.score.ravel(), 3).tolist()
        [nan, 1.0, 1.0]
        """
        smooth = pd.DataFrame(raw).ewm(halflife=halflife, ignore_na=True).mean().to_numpy(np.float64)
        return cls(np.asarray(timestamps, dtype=np.int64), tuple(tickers), smooth)

    def row(self, timestamp_ns: int, tickers: tuple[str, ...]) -> Float64Array | None:
        """The smoothed sentiment at the last timestamp ``≤ timestamp_ns`` for ``tickers`` (NaN where unknown)."""
        i = int(np.searchsorted(self.timestamps, timestamp_ns, side="right")) - 1
        if i < 0:
            return None
        cols = pd.Index(self.tickers).get_indexer(list(tickers))
        out = np.full(len(tickers), np.nan)
        out[cols >= 0] = self.score[i, cols[cols >= 0]]
        return out
