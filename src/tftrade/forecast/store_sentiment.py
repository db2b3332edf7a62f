"""Sentiment inputs for the forecaster from the store's ``reddit_sentiment_aggregated`` table.

The rules (which aggregates reach which bar) live in :mod:`tftrade.features.bar_sentiment`; a
command that builds several panels reads the aggregates once with
:class:`~tftrade.features.bar_sentiment.SentimentWindows` (see
:class:`~tftrade.features.stored.StoredMarket`). :func:`stored_sentiment` is the one-shot form.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine

from tftrade.core.types import Float64Array, Int64Array, Timeframe
from tftrade.features.bar_sentiment import SentimentWindows, session_closes


def stored_sentiment(
    engine: Engine, timestamps: Int64Array, tickers: list[str], timeframe: Timeframe
) -> tuple[Float64Array | None, Float64Array | None]:
    """Return ``(score, count)`` time × ticker arrays for the bars ``timestamps``, or ``(None, None)``.

    ``score`` is the comment-weighted mean sentiment (NaN where a bar has no comment), ``count`` the
    number of comments: the arguments of :func:`tftrade.features.sentiment.sentiment_features`.
    """
    ts = np.asarray(timestamps, dtype=np.int64)
    if len(ts) == 0:
        return None, None
    return SentimentWindows.from_store(engine, tickers, int(ts.min()), int(ts.max())).on_bars(ts, tickers, timeframe)


__all__ = ["session_closes", "stored_sentiment"]
