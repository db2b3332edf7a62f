"""Wire the pieces to the store: annotate comments on import, aggregate what is stored.

Examples
--------
>>> from tftrade.sentiment.lexicon import LexiconScorer
>>> tickers, scores = annotator(TickerExtractor.default(), LexiconScorer())(["$NVDA and Tesla to the moon"])
>>> tickers, bool(scores[0] > 0.3)
([('NVDA', 'TSLA')], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine, select

from tftrade.data.comments import CommentIngestReport, ingest_comments, synthetic_records
from tftrade.sentiment.aggregate import AggregateResult, aggregate, read_aggregates, write_aggregates
from tftrade.sentiment.language import language_weights
from tftrade.sentiment.momentum import MomentumConfig, momentum, momentum_rows
from tftrade.sentiment.noise import NoiseReport, noise_weights
from tftrade.sentiment.scorer import Scorer
from tftrade.sentiment.tickers import TickerExtractor
from tftrade.store.momentum import write_momentum
from tftrade.store.schema import reddit_comment_texts, reddit_comments, securities


def annotator(extractor: TickerExtractor, scorer: Scorer):  # type: ignore[no-untyped-def]
    """Return the ``annotate`` callable the comment importer needs: texts → (tickers, scores)."""

    def annotate(texts: Sequence[str]) -> tuple[list[tuple[str, ...]], npt.NDArray[np.float64]]:
        tickers = extractor.extract_many(texts)
        scores = np.zeros(len(texts))
        has = [k for k, t in enumerate(tickers) if t]
        if has:
            scores[has] = scorer.score([texts[k] for k in has])
        return tickers, scores

    return annotate


def extractor_from_store(engine: Engine) -> TickerExtractor:
    """Return an extractor over the securities master plus the built-in names."""
    with engine.connect() as conn:
        rows = conn.execute(select(securities.c.ticker, securities.c.name)).all()
    return TickerExtractor.from_securities((str(t), str(n)) for t, n in rows)


def load_mentions(engine: Engine, ticker: str | None = None) -> pd.DataFrame:
    """Return stored mentions joined with their text: comment_id, ticker, timestamp, score, upvotes, body, author."""
    m, t = reddit_comments, reddit_comment_texts
    q = (select(m.c.comment_id, m.c.ticker, m.c.timestamp, m.c.sentiment_score, m.c.upvotes, t.c.body, t.c.author)
         .join(t, t.c.comment_id == m.c.comment_id))
    if ticker is not None:
        q = q.where(m.c.ticker == ticker.upper())
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(q).mappings().all(),
                             columns=["comment_id", "ticker", "timestamp", "sentiment_score", "upvotes", "body",
                                      "author"])
    frame["sentiment_score"] = frame["sentiment_score"].astype(float)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def with_noise_weights(mentions: pd.DataFrame) -> tuple[pd.DataFrame, NoiseReport]:
    """Add a ``weight`` column, computed once per comment.

    The weight is :func:`~tftrade.sentiment.noise.noise_weights` times
    :func:`~tftrade.sentiment.language.language_weights` (a comment in another language
    than English weighs 0.1: its neutral score says only that no scorer could read it).
    """
    comments = mentions.drop_duplicates("comment_id")
    weights, report = noise_weights(comments)
    weights = weights * language_weights(comments["body"].astype(str).tolist())
    by_id = pd.Series(weights, index=comments["comment_id"].to_numpy())
    return mentions.assign(weight=mentions["comment_id"].map(by_id).to_numpy(dtype=float)), report


def ingest_synthetic_comments(engine: Engine, comments: pd.DataFrame, securities: Sequence[tuple[str, str]],
                              scorer: Scorer) -> CommentIngestReport:
    """Import a synthetic market's ``comments`` frame, finding tickers among ``(ticker, name)`` pairs."""
    extractor = TickerExtractor.from_securities(securities)
    return ingest_comments(engine, synthetic_records(comments), "synthetic", annotator(extractor, scorer),
                           kind="synthetic")


@dataclass(frozen=True)
class AggregateRun:
    """What ``tftrade sentiment aggregate`` did."""

    window: str
    mentions: int
    tickers: int
    rows_written: int
    empty_windows: int
    noise: NoiseReport


def aggregate_store(engine: Engine, window: str, ticker: str | None = None) -> tuple[AggregateRun, AggregateResult]:
    """Aggregate the stored mentions (noise-weighted) for ``window`` and upsert the result."""
    mentions, noise = with_noise_weights(load_mentions(engine, ticker))
    result = aggregate(mentions, window)
    written = write_aggregates(engine, result.frame)
    run = AggregateRun(window, len(mentions), result.tickers, written, result.empty_windows, noise)
    return run, result


def momentum_store(engine: Engine, window: str, ticker: str | None = None, *, store: bool = True,
                   config: MomentumConfig | None = None) -> tuple[pd.DataFrame, int]:
    """Compute momentum from the stored aggregates of ``window``; upsert it into ``reddit_sentiment_momentum``.

    Returns the rows (:func:`~tftrade.sentiment.momentum.momentum_rows` columns) and how many
    were written (0 with ``store=False``). Re-running is idempotent; rows recomputed with
    more history replace the stored ones.
    """
    rows = momentum_rows(momentum(read_aggregates(engine, window, ticker), config), window)
    written = write_momentum(engine, rows) if store else 0
    return rows, written
