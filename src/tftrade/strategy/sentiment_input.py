"""Sentiment as a strategy input: smoothed score, momentum trend and comment-volume surprise per ticker.

The raw input is the average comment sentiment and the comment count per bar window
(``reddit_sentiment_aggregated``). :meth:`SentimentPanel.from_windows` runs
:func:`tftrade.sentiment.momentum.momentum` over them: the score is the fast EWMA of the
sentiment, the trend the sign of fast − slow EWMA (the crossover state), and ``volume_z`` the
comment-count z-score against the trailing windows (a burst above 3). Every value at a bar uses
windows up to and including it (causal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tftrade.core.types import Float64Array, Int64Array
from tftrade.strategy.forecasts import take_row


@dataclass(frozen=True)
class SentimentPanel:
    """Smoothed sentiment ``(T, n)`` on ``timestamps``."""

    timestamps: Int64Array
    tickers: tuple[str, ...]
    score: Float64Array
    trend: Float64Array | None = None
    volume_z: Float64Array | None = None

    @classmethod
    def from_windows(cls, timestamps: Int64Array, tickers: tuple[str, ...], raw: Float64Array,
                     count: Float64Array) -> SentimentPanel:
        """Momentum features of per-window average sentiment ``raw`` (NaN = no comment) and ``count``."""
        from tftrade.sentiment.momentum import momentum

        t, n = raw.shape
        frame = pd.DataFrame({
            "ticker": np.repeat(np.asarray(tickers, dtype=object), t),
            "time_window": np.tile(np.asarray(timestamps, dtype=np.int64), n),
            "total_comments": np.asarray(count, dtype=np.float64).T.ravel(),
            "avg_sentiment": np.asarray(raw, dtype=np.float64).T.ravel(),
        })
        m = momentum(frame)
        order = pd.Index(tickers).get_indexer(m["ticker"].iloc[::t])

        def wide(col: str) -> Float64Array:
            out = np.empty((t, n))
            out[:, order] = m[col].to_numpy(np.float64).reshape(n, t).T
            return out

        return cls(np.asarray(timestamps, dtype=np.int64), tuple(tickers), wide("ewm_fast"), wide("trend"),
                   wide("volume_z"))

    def row(self, timestamp_ns: int, tickers: tuple[str, ...]) -> Float64Array | None:
        """The smoothed sentiment at the last timestamp ``≤ timestamp_ns`` for ``tickers`` (NaN where unknown)."""
        got = self.rows(timestamp_ns, tickers)
        return None if got is None else got[0]

    def rows(self, timestamp_ns: int, tickers: tuple[str, ...]) -> tuple[Float64Array, Float64Array,
                                                                          Float64Array] | None:
        """``(score, trend, volume_z)`` at the last timestamp ``≤ timestamp_ns`` (NaN where unknown)."""
        i = int(np.searchsorted(self.timestamps, timestamp_ns, side="right")) - 1
        if i < 0:
            return None
        score, trend, volume_z = take_row((self.score, self.trend, self.volume_z), i, self.tickers, tickers)
        return score, trend, volume_z
