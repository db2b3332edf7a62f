"""The labelled sentiment data set, scorer evaluation and the reproducible head training run.

The data live in ``$TFTRADE_SHARED_DATA/sentiment/sent_{train,valid}.csv``
(``text,label`` with 0 bearish, 1 bullish, 2 neutral); ``TFTRADE_SHARED_DATA``
defaults to ``../shared/data`` next to the repository.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from tftrade.sentiment.errors import SentimentError
from tftrade.sentiment.scorer import Scorer, label_codes

SHARED_DATA_ENV = "TFTRADE_SHARED_DATA"
_REPO_ROOT = Path(__file__).resolve().parents[3]
_CODE_OF_LABEL = np.array([-1, 1, 0])  # 0 bearish → -1, 1 bullish → +1, 2 neutral → 0


def shared_data_dir() -> Path:
    """Return the folder of the public data sets (``$TFTRADE_SHARED_DATA`` or ``../shared/data``).

    A relative path is taken from the working directory if it exists there, else from the repository.
    """
    p = Path(os.environ.get(SHARED_DATA_ENV, "../shared/data")).expanduser()
    if p.is_absolute() or p.exists():
        return p
    return (_REPO_ROOT / p).resolve()


def load_labelled(split: str) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Return the texts and labels (0, 1, 2) of ``sent_{split}.csv``.

    Raises
    ------
    SentimentError
        If the file is missing or lacks the ``text`` and ``label`` columns.
    """
    path = shared_data_dir() / "sentiment" / f"sent_{split}.csv"
    if not path.is_file():
        raise SentimentError(f"labelled sentiment data not found at {path}; set ${SHARED_DATA_ENV}")
    frame = pd.read_csv(path)
    if not {"text", "label"} <= set(frame.columns):
        raise SentimentError(f"{path}: expected columns text,label; found {list(frame.columns)}")
    return frame["text"].astype(str).tolist(), frame["label"].to_numpy(dtype=np.int64)


@dataclass(frozen=True)
class Evaluation:
    """Accuracy and macro-F1 of one scorer's labels (thresholds ±0.3) against the truth."""

    scorer: str
    n: int
    accuracy: float
    macro_f1: float
    seconds: float


def evaluate(scorer: Scorer, texts: list[str], labels: npt.ArrayLike) -> Evaluation:
    """Score ``texts``, label them with the ±0.3 thresholds and compare with ``labels`` (0, 1, 2)."""
    from sklearn.metrics import accuracy_score, f1_score

    truth = _CODE_OF_LABEL[np.asarray(labels, dtype=np.int64)]
    t0 = time.perf_counter()
    pred = label_codes(scorer.score(texts))
    seconds = time.perf_counter() - t0
    return Evaluation(scorer.name, len(texts), round(float(accuracy_score(truth, pred)), 4),
                      round(float(f1_score(truth, pred, average="macro")), 4), round(seconds, 3))


@dataclass(frozen=True)
class TrainReport:
    """What ``tftrade sentiment train`` did."""

    path: str
    n_train: int
    n_valid: int
    accuracy: float
    macro_f1: float
    embed_seconds: float
    train_seconds: float


def train_and_save(out: Path | None = None, *, seed: int = 0, epochs: int = 50, hidden: int = 128) -> TrainReport:
    """Embed ``sent_train``, train the head, score ``sent_valid`` and save the head (default: the shipped asset)."""
    from tftrade.sentiment.learned import HEAD_PATH, LearnedScorer, embed, train_head

    texts, labels = load_labelled("train")
    v_texts, v_labels = load_labelled("valid")
    t0 = time.perf_counter()
    emb = embed(texts)
    t1 = time.perf_counter()
    head = train_head(emb, labels, seed=seed, epochs=epochs, hidden=hidden)
    t2 = time.perf_counter()
    path = head.save(out or HEAD_PATH)
    result = evaluate(LearnedScorer(head), v_texts, v_labels)
    return TrainReport(str(path), len(texts), len(v_texts), result.accuracy, result.macro_f1,
                       round(t1 - t0, 1), round(t2 - t1, 1))
