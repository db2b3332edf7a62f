"""The labelled sentiment data set, scorer evaluation and the reproducible head training run.

The data live in ``$TFTRADE_SHARED_DATA/sentiment/sent_{train,valid}.csv``
(``text,label`` with 0 bearish, 1 bullish, 2 neutral); ``TFTRADE_SHARED_DATA``
defaults to ``../shared/data`` next to the repository.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from tftrade.core.config import shared_data_dir
from tftrade.sentiment.errors import SentimentError
from tftrade.sentiment.scorer import Scorer, label_codes

_CODE_OF_LABEL = np.array([-1, 1, 0])  # 0 bearish → -1, 1 bullish → +1, 2 neutral → 0


def load_labelled(split: str) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Return the texts and labels (0, 1, 2) of ``sent_{split}.csv``.

    Raises
    ------
    SentimentError
        If the file is missing or lacks the ``text`` and ``label`` columns.
    """
    path = shared_data_dir() / "sentiment" / f"sent_{split}.csv"
    if not path.is_file():
        raise SentimentError(f"labelled sentiment data not found at {path}; set $TFTRADE_SHARED_DATA")
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
    adapter_bytes: int
    n_train: int
    n_valid: int
    accuracy: float
    macro_f1: float
    epoch_losses: list[float]
    train_seconds: float
    valid_seconds: float


def _subset(texts: list[str], labels: npt.NDArray[np.int64], limit: int | None,
            seed: int) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The first ``limit`` items of a seeded shuffle (all of them, in order, when ``limit`` is None)."""
    if limit is None or limit >= len(texts):
        return texts, labels
    if limit < 1:
        raise SentimentError(f"limit must be >= 1, got {limit}")
    keep = np.sort(np.random.default_rng(seed).permutation(len(texts))[:limit])
    return [texts[k] for k in keep], labels[keep]


def train_and_save(out: Path | None = None, *, seed: int = 0, epochs: int = 3, limit: int | None = None,
                   valid_limit: int | None = None, threads: int | None = 1) -> TrainReport:
    """Fine-tune on ``sent_train``, save the adapter (default: the shipped asset), report on ``sent_valid``.

    ``limit`` and ``valid_limit`` take seeded subsets (for quick runs and tests); the shipped
    asset is trained on all of ``sent_train`` with the defaults (seed 0, 3 epochs, one torch
    thread: the thread count changes the float summation order and so the exact weights).
    Only ``sent_train`` is used for training.
    """
    from tftrade.sentiment.encoder import Encoder
    from tftrade.sentiment.finetune import FinetuneConfig, finetune
    from tftrade.sentiment.learned import ADAPTER_PATH, LearnedScorer

    texts, labels = _subset(*load_labelled("train"), limit, seed)
    v_texts, v_labels = _subset(*load_labelled("valid"), valid_limit, seed)
    losses: list[float] = []
    t0 = time.perf_counter()
    adapter = finetune(Encoder.load(), texts, labels, FinetuneConfig(epochs=epochs, seed=seed), threads=threads,
                       progress=lambda _, loss: losses.append(round(loss, 4)))
    t1 = time.perf_counter()
    path = adapter.save(out or ADAPTER_PATH)
    result = evaluate(LearnedScorer(path, threads=threads), v_texts, v_labels)
    return TrainReport(str(path), path.stat().st_size, len(texts), len(v_texts), result.accuracy, result.macro_f1,
                       losses, round(t1 - t0, 1), result.seconds)
