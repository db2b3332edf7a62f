"""Try another sentence encoder in the social scorer, on the inner time-ordered folds only.

Run::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/sentiment_encoders.py --encoder-dir PATH [--threads 2]

``PATH`` is a sentence-transformers model folder on disk (nothing is downloaded), e.g.
``all-mpnet-base-v2`` unpacked from the package index. The script reads the self-tagged
StockTwits messages (``$TFTRADE_SHARED_DATA/sentiment_social/``), keeps the first four fifths
in time (the training part of ``tftrade sentiment train-social``) and **never reads the
held-out fifth**. It encodes the masked messages with the two shipped encoders and with the
candidate, then prints on the two inner folds (fold 1: train on the first 4,253, validate on
the next 1,064; fold 2: the first 3,402 / the next 851) each encoder's linear model alone
(AUC) and the standardised sums of the parts — news-tuned MiniLM, frozen MiniLM, candidate,
words, lexicon — with the shipped weights, the candidate added, and the candidate in place of
the frozen MiniLM (AUC and balanced accuracy), and the encoders' CPU time per 1,000 messages on
one thread. Figures are printed, never asserted; docs/sentiment.md records a run.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

os.environ.setdefault("HF_HUB_OFFLINE", "1")

F64 = npt.NDArray[np.float64]
PARTS = ("news-tuned", "frozen", "candidate", "words", "lexicon")
COMBINATIONS = {
    "shipped (news-tuned 1.5, frozen 0.5, words 1, lexicon 0.5)": (1.5, 0.5, 0.0, 1.0, 0.5),
    "candidate 1 added": (1.5, 0.5, 1.0, 1.0, 0.5),
    "candidate 1 in place of frozen": (1.5, 0.0, 1.0, 1.0, 0.5),
    "candidate 1.5 in place of frozen": (1.5, 0.0, 1.5, 1.0, 0.5),
}


def inner_folds(n_train: int) -> list[tuple[int, int]]:
    """The two time-ordered validation folds inside the training part: ``(train end, validation end)``."""
    from tftrade.sentiment.social_train import time_split

    first = time_split(n_train)
    return [(first, n_train), (time_split(first), first)]


def fold_parts(y: npt.NDArray[np.int64], embeddings: Sequence[F64], counts: object, lexicon: F64,
               train: int, end: int) -> tuple[F64, F64]:
    """Each part's out-of-fold log-odds on ``[:train]`` and its log-odds on ``[train:end]`` (fit on ``[:train]``)."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.model_selection import StratifiedKFold

    from tftrade.sentiment.social import tfidf
    from tftrade.sentiment.social_train import C_EMB, C_WORDS, FOLDS, _logit_model

    def words(rows: npt.NDArray[np.int64]) -> object:
        return tfidf(counts, TfidfTransformer(sublinear_tf=True).fit(counts[rows]).idf_)  # type: ignore[index]

    yt = y[:train]
    oof, val = np.zeros((train, len(PARTS))), np.zeros((end - train, len(PARTS)))
    for tr, te in StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(np.zeros(train), yt):
        for k, e in enumerate(embeddings):
            oof[te, k] = _logit_model(e[tr], yt[tr], C_EMB).decision_function(e[te])  # type: ignore[attr-defined]
        x = words(tr)
        oof[te, 3] = _logit_model(x[tr], yt[tr], C_WORDS).decision_function(x[te])  # type: ignore[attr-defined,index]
    for k, e in enumerate(embeddings):
        val[:, k] = _logit_model(e[:train], yt, C_EMB).decision_function(e[train:end])  # type: ignore[attr-defined]
    x = words(np.arange(train))
    val[:, 3] = _logit_model(x[:train], yt, C_WORDS).decision_function(x[train:end])  # type: ignore[attr-defined,index]
    oof[:, 4], val[:, 4] = lexicon[:train], lexicon[train:end]
    return oof, val


def combined_log_odds(oof: F64, val: F64, y: npt.NDArray[np.int64], weights: Sequence[float]) -> F64:
    """The social scorer's recipe: parts standardised by their out-of-fold moments, weighted, summed, Platt-scaled."""
    from tftrade.sentiment.social_train import _logit_model

    w = np.asarray(weights, dtype=np.float64)
    center, scale = oof.mean(axis=0), oof.std(axis=0)
    scale[scale == 0] = 1.0
    platt = _logit_model((((oof - center) / scale) * w).sum(axis=1, keepdims=True), y, 1e6)
    out: F64 = platt.decision_function((((val - center) / scale) * w).sum(axis=1, keepdims=True))  # type: ignore[attr-defined]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder-dir", required=True, help="a sentence-transformers model folder on disk")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not (Path(args.encoder_dir) / "modules.json").is_file():
        parser.error(f"--encoder-dir {args.encoder_dir}: not a sentence-transformers model folder (no modules.json)")

    import torch
    from sentence_transformers import SentenceTransformer
    from sklearn.metrics import roc_auc_score

    from tftrade.sentiment.encoder import clean
    from tftrade.sentiment.social import (
        cashtag_symbols,
        embed_masked,
        hasher,
        lexicon_scores,
        load_encoders,
        mask_tickers,
        scores_of,
        ticker_masker,
    )
    from tftrade.sentiment.social_train import WORD_NGRAMS, evaluate_social, load_stocktwits, time_split

    texts, labels = load_stocktwits()
    n_train = time_split(len(texts))
    texts, y = texts[:n_train], labels[:n_train]  # the held-out fifth is never read
    masker = ticker_masker(cashtag_symbols(texts))
    masked = [mask_tickers(t, masker) for t in texts]
    torch.set_num_threads(args.threads)
    shipped = load_encoders()
    candidate = SentenceTransformer(args.encoder_dir, device="cpu")

    def encode_candidate(batch: list[str]) -> F64:
        e = candidate.encode([clean(t) for t in batch], batch_size=64, normalize_embeddings=True,
                             show_progress_bar=False)
        return np.asarray(e, dtype=np.float64)

    sample = list(dict.fromkeys(masked))[:300]
    cpu: dict[str, float] = {}
    with torch.inference_mode():
        torch.set_num_threads(1)
        for name, encode in (("MiniLM (one shipped encoder)", lambda b: shipped[1].encode(b, 64, 1)),
                             ("candidate", encode_candidate)):
            encode(sample[:16])
            c0 = time.process_time()
            encode(sample)
            cpu[name] = (time.process_time() - c0) / len(sample) * 1000
        torch.set_num_threads(args.threads)
        news, frozen = (np.asarray(e, dtype=np.float64) for e in embed_masked(shipped, masked, 64, args.threads))
        cand = encode_candidate(masked)
    for name, seconds in cpu.items():
        print(f"encoder CPU per 1,000 messages, one thread: {name} {seconds:.1f} s")
    counts = hasher(WORD_NGRAMS, None).transform(masked).tocsr()
    lexicon = lexicon_scores(masked)
    folds = inner_folds(n_train)
    parts = [fold_parts(y, [news, frozen, cand], counts, lexicon, a, b) for a, b in folds]
    print(f"inner folds (train end, validation end): {folds}; figures are fold 1 / fold 2")
    for k, name in enumerate(PARTS[:3]):
        aucs = [roc_auc_score(y[a:b], val[:, k]) for (a, b), (_, val) in zip(folds, parts, strict=True)]
        print(f"  {name:<12} alone  AUC {aucs[0]:.3f} / {aucs[1]:.3f}")
    for name, weights in COMBINATIONS.items():
        rows = [evaluate_social(name, scores_of(texts[a:b], combined_log_odds(oof, val, y[:a], weights)), y[a:b])
                for (a, b), (oof, val) in zip(folds, parts, strict=True)]
        print(f"  {name:<58} AUC {rows[0].auc:.3f} / {rows[1].auc:.3f}   balanced accuracy "
              f"{rows[0].balanced_accuracy:.3f} / {rows[1].balanced_accuracy:.3f}")


if __name__ == "__main__":
    main()
