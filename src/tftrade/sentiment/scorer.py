"""The scorer port: texts in, scores in [-1, 1] out, and the label thresholds.

A comment is *bullish* when its score is strictly above ``0.3`` and *bearish*
when strictly below ``-0.3``; a score of exactly ``±0.3`` is neutral.

Every scorer knows English only: a text in another language scores 0 (neutral)
and weighs :data:`~tftrade.sentiment.language.FOREIGN_WEIGHT` in aggregates
(:mod:`tftrade.sentiment.language`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, get_args, runtime_checkable

import numpy as np
import numpy.typing as npt

from tftrade.sentiment.errors import SentimentError

Label = Literal["bullish", "bearish", "neutral"]
ScorerName = Literal["social", "lexicon", "learned"]
SCORER_NAMES: tuple[str, ...] = get_args(ScorerName)
BULLISH_ABOVE = 0.3
BEARISH_BELOW = -0.3


@runtime_checkable
class Scorer(Protocol):
    """Anything that turns texts into sentiment scores in ``[-1, 1]``."""

    name: str

    def score(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """Return one score in ``[-1, 1]`` per text, in order."""
        ...


def label_of(score: float) -> Label:
    """Return the label of one score.

    Examples
    --------
    >>> label_of(0.3), label_of(0.3001), label_of(-0.3), label_of(-0.31)
    ('neutral', 'bullish', 'neutral', 'bearish')
    """
    if score > BULLISH_ABOVE:
        return "bullish"
    if score < BEARISH_BELOW:
        return "bearish"
    return "neutral"


def label_codes(scores: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Return ``1`` (bullish), ``-1`` (bearish) or ``0`` (neutral) per score, vectorised.

    Examples
    --------
    >>> label_codes([0.5, 0.3, -0.3, -0.5]).tolist()
    [1, 0, 0, -1]
    """
    s = np.asarray(scores, dtype=float)
    return (s > BULLISH_ABOVE).astype(np.int8) - (s < BEARISH_BELOW).astype(np.int8)


def make_scorer(name: str) -> Scorer:
    """Build the scorer called ``name``: ``social``, ``lexicon`` or ``learned``.

    ``social`` (MiniLM embeddings, hashed words and emoji, the lexicon; trained on
    StockTwits and news) is the one for Reddit and StockTwits text; ``learned`` (MiniLM
    fine-tuned on news headlines) for news; ``lexicon`` is the fast one.

    Raises
    ------
    SentimentError
        If ``name`` is not a known scorer.

    Examples
    --------
    >>> make_scorer("lexicon").name
    'lexicon'
    """
    if name == "lexicon":
        from tftrade.sentiment.lexicon import LexiconScorer

        return LexiconScorer()
    if name == "learned":
        from tftrade.sentiment.learned import LearnedScorer

        return LearnedScorer()
    if name == "social":
        from tftrade.sentiment.social import SocialScorer

        return SocialScorer()
    raise SentimentError(f"unknown scorer {name!r}; expected one of {list(SCORER_NAMES)}")
