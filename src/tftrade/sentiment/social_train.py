"""Train and validate the social scorer on self-tagged StockTwits messages.

``$TFTRADE_SHARED_DATA/sentiment_social/stocktwits_2021-05.csv`` holds 15,492 messages
of which 6,647 (with text) are tagged by their authors: 5,915 Bullish, 732 Bearish.
Messages are put in time order by their ``Message ID`` (StockTwits numbers them as
they are posted; the file's ``Time`` column is mostly a clock time without a date);
the first four fifths train, the last fifth is held out and used only to report
(:func:`time_split`).

Imbalanced as it is (89 % bullish), the data are reported by **balanced accuracy**
(the mean of the bullish and bearish recalls, where a neutral label counts as a miss),
per-class recall and **AUC** of the score; the hyper-parameters (the models'
regularisation, how they are combined) were chosen on the last fifth of the training part, never
on the held-out fifth. Every model reads the messages with their tickers masked
(:func:`~tftrade.sentiment.social.mask_tickers`: cashtags, and the symbols cashtagged in the
training part when written without ``$``), so no model learns which tickers were bearish that
month. ``tftrade sentiment train-social`` regenerates ``assets/social.npz``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from tftrade.core.config import shared_data_dir
from tftrade.sentiment.errors import SentimentError
from tftrade.sentiment.scorer import label_codes
from tftrade.sentiment.social import (
    ENCODERS,
    N_FEATURES,
    SOCIAL_PATH,
    SocialModel,
    cashtag_symbols,
    embed_masked,
    hasher,
    lexicon_scores,
    mask_tickers,
    scores_of,
    tfidf,
    ticker_masker,
)

STOCKTWITS = Path("sentiment_social") / "stocktwits_2021-05.csv"
HOLDOUT = 0.2
C_EMB = 1.0
C_WORDS = 2.0
FOLDS = 5
WORD_NGRAMS = (1, 1)
CHAR_NGRAMS: tuple[int, int] | None = None
LEXICON = True
WEIGHTS = (1.5, 0.5, 1.0, 0.5)
"""Weights of the standardised parts: news-tuned embeddings, frozen embeddings, words, lexicon
(chosen by time-ordered validation inside the training part: docs/sentiment.md)."""

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def load_stocktwits(path: str | Path | None = None) -> tuple[list[str], I64]:
    """Return the tagged messages in time order and their labels (1 bullish, 0 bearish).

    Raises
    ------
    SentimentError
        If the file is missing or lacks the ``Message``, ``Sentiment`` and ``Message ID`` columns.
    """
    p = Path(path) if path is not None else shared_data_dir() / STOCKTWITS
    if not p.is_file():
        raise SentimentError(f"StockTwits data not found at {p}; set $TFTRADE_SHARED_DATA")
    frame = pd.read_csv(p)
    need = {"Message", "Sentiment", "Message ID"}
    if not need <= set(frame.columns):
        raise SentimentError(f"{p}: expected columns {sorted(need)}; found {list(frame.columns)}")
    tagged = frame[frame["Sentiment"].isin(["Bullish", "Bearish"]) & frame["Message"].notna()]
    tagged = tagged.sort_values("Message ID", kind="stable")
    return tagged["Message"].astype(str).tolist(), tagged["Sentiment"].eq("Bullish").to_numpy(dtype=np.int64)



def time_split(n: int, holdout: float = HOLDOUT) -> int:
    """Return the index where the held-out last ``holdout`` of ``n`` time-ordered items starts.

    Examples
    --------
    >>> time_split(6647)
    5317
    """
    if not 0 < holdout < 1 or n < 2:
        raise SentimentError(f"need 0 < holdout < 1 and n >= 2; got {holdout}, {n}")
    return int(n * (1 - holdout))


@dataclass(frozen=True)
class SocialEvaluation:
    """Bullish-versus-bearish figures of one scorer on tagged messages (neutral counts as a miss)."""

    scorer: str
    n: int
    n_bearish: int
    balanced_accuracy: float
    recall_bullish: float
    recall_bearish: float
    auc: float
    neutral_share: float


def evaluate_social(name: str, scores: npt.ArrayLike, labels: npt.ArrayLike) -> SocialEvaluation:
    """Compare scores with bullish (1) / bearish (0) tags: recalls by the ±0.3 labels, AUC by the score.

    Examples
    --------
    >>> e = evaluate_social("x", [0.9, 0.1, -0.8, 0.5], [1, 1, 0, 0])
    >>> e.recall_bullish, e.recall_bearish, e.balanced_accuracy, e.auc
    (0.5, 0.5, 0.5, 0.75)
    """
    from sklearn.metrics import roc_auc_score

    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if len(np.unique(y)) != 2:
        raise SentimentError("need both bullish and bearish messages to evaluate")
    lab = label_codes(s)
    bull = float((lab[y == 1] == 1).mean())
    bear = float((lab[y == 0] == -1).mean())
    return SocialEvaluation(name, len(y), int((y == 0).sum()), round((bull + bear) / 2, 4), round(bull, 4),
                            round(bear, 4), round(float(roc_auc_score(y, s)), 4), round(float((lab == 0).mean()), 4))


def _balanced_weights(y: I64) -> F64:
    counts = np.bincount(y, minlength=2).astype(np.float64)
    out: F64 = (len(y) / (2 * counts))[y]
    return out


def _logit_model(x: object, y: I64, c: float) -> object:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=5000).fit(x, y, sample_weight=_balanced_weights(y))


def fit_social(texts: Sequence[str], labels: npt.ArrayLike, embeddings: Sequence[npt.ArrayLike], *,
               c_emb: float = C_EMB, c_words: float = C_WORDS, folds: int = FOLDS, seed: int = 0,
               word_ngrams: Sequence[int] = WORD_NGRAMS, char_ngrams: Sequence[int] | None = CHAR_NGRAMS,
               lexicon: bool = LEXICON, weights: Sequence[float] | None = None,
               gain: float = 1.0, shift: float = 0.0, tickers: Sequence[str] = ()) -> SocialModel:
    """Fit the embedding and words models on tagged messages, and how to combine them.

    ``texts`` are the messages as written and ``embeddings`` those of the masked messages
    (:func:`~tftrade.sentiment.social.mask_tickers` with ``tickers``, then
    :func:`~tftrade.sentiment.social.embed_masked`); the words model and the lexicon mask
    the texts themselves. ``tickers`` (kept in the metadata) are masked when written
    without ``$`` too, besides the built-in universe. Each model's log-odds (and the lexicon's score, with
    ``lexicon``) are standardised by their out-of-fold mean and deviation (``folds`` seeded
    folds) and summed with ``weights`` (by default :data:`WEIGHTS` for the two encoders, the
    words and the lexicon, else equal); a one-feature logistic regression on the out-of-fold
    sums (Platt scaling) turns the sum into log-odds, which are then multiplied by ``gain``
    and moved by ``shift`` (the decision rule chosen on a validation split:
    :func:`choose_decision`). All fits weight the classes to balance.
    """
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels, dtype=np.int64)
    embs = [np.asarray(e, dtype=np.float64) for e in embeddings]
    if len(y) != len(texts) or any(len(e) != len(texts) for e in embs) or set(np.unique(y)) != {0, 1}:
        raise SentimentError("need embeddings and one 0/1 label per text, with both labels present")
    masker = ticker_masker(tickers)
    masked = [mask_tickers(t, masker) for t in texts]
    counts = hasher(word_ngrams, char_ngrams).transform(masked).tocsr()
    lex = lexicon_scores(masked) if lexicon else None
    n_parts = len(embs) + 1 + (lex is not None)
    default = WEIGHTS if n_parts == len(WEIGHTS) else (1.0,) * n_parts
    w_parts = np.asarray(default if weights is None else weights, dtype=np.float64)
    if len(w_parts) != n_parts:
        raise SentimentError(f"need {n_parts} weights (one per model); got {len(w_parts)}")

    def words_features(rows: I64) -> tuple[object, F64]:
        idf = TfidfTransformer(sublinear_tf=True).fit(counts[rows]).idf_
        return tfidf(counts, idf), idf

    oof = np.zeros((len(y), n_parts))
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(embs[0], y):
        for k, e in enumerate(embs):
            oof[te, k] = _logit_model(e[tr], y[tr], c_emb).decision_function(e[te])  # type: ignore[attr-defined]
        x, _ = words_features(tr)
        oof[te, len(embs)] = _logit_model(x[tr], y[tr], c_words).decision_function(x[te])  # type: ignore[attr-defined,index]
    if lex is not None:
        oof[:, -1] = lex
    center, scale = oof.mean(axis=0), oof.std(axis=0)
    scale[scale == 0] = 1.0
    platt = _logit_model((((oof - center) / scale) * w_parts).sum(axis=1, keepdims=True), y, 1e6)
    emb_models = [_logit_model(e, y, c_emb) for e in embs]
    x, idf = words_features(np.arange(len(y)))
    words_model = _logit_model(x, y, c_words)
    w_words = words_model.coef_[0]  # type: ignore[attr-defined]
    used = np.flatnonzero(np.asarray(counts.sum(axis=0)).ravel() > 0)
    a, b = platt.coef_[0, 0], platt.intercept_[0]  # type: ignore[attr-defined]
    meta = {"c_emb": c_emb, "c_words": c_words, "folds": folds, "seed": seed, "n_train": len(y),
            "n_bearish": int((y == 0).sum()), "n_features": N_FEATURES, "encoders": list(ENCODERS),
            "word_ngrams": list(word_ngrams), "char_ngrams": None if char_ngrams is None else list(char_ngrams),
            "lexicon": lexicon, "weights": w_parts.tolist(), "gain": gain, "shift": shift,
            "tickers": sorted({t.upper() for t in tickers}),
            "labels": "1 bullish, 0 bearish; classes weighted to balance"}
    return SocialModel(
        emb_w=np.stack([m.coef_[0] for m in emb_models]),  # type: ignore[attr-defined]
        emb_b=np.array([m.intercept_[0] for m in emb_models]),  # type: ignore[attr-defined]
        word_idx=used.astype(np.int64), word_idf=idf[used], word_w=w_words[used],
        word_b=float(words_model.intercept_[0]),  # type: ignore[attr-defined]
        center=center, scale=scale, weights=w_parts,
        platt=np.array([gain * a, gain * b + shift]),
        meta=meta)


TOLERANCE = 0.01
GAINS: tuple[float, ...] = (1.0,)
"""The shipped scores keep the Platt log-odds as they are (the label is the sign of the shifted log-odds, so a
gain would only rescale the scores; ``gains`` remains for other score maps)."""
SHIFTS: tuple[float, ...] = (0.0,)
"""The shipped recipe keeps the sign of the Platt log-odds: a shift fitted to the training month's
later, more bearish messages made every weak text bearish (docs/sentiment.md)."""


def choose_decision(z: npt.ArrayLike, labels: npt.ArrayLike, texts: Sequence[str], *,
                    gains: Sequence[float] = GAINS, shifts: Sequence[float] = SHIFTS) -> tuple[float, float]:
    """Return the ``(gain, shift)`` of the log-odds that maximise balanced accuracy on validation messages.

    The score is :func:`~tftrade.sentiment.social.score_of_log_odds` of ``gain * z + shift``
    with the ±0.3 labels (neutral counts as a miss): ``shift`` moves the threshold between
    bullish and bearish. Of the rules within :data:`TOLERANCE` of the best, the one with the
    smallest gain, then the smallest ``|shift|`` (the least adjustment that does as well).
    """
    y = np.asarray(labels, dtype=np.int64)
    zz = np.asarray(z, dtype=np.float64)
    grid = [(evaluate_social("choose", scores_of(texts, gain * zz + shift), y).balanced_accuracy, gain, float(shift))
            for gain in gains for shift in shifts]
    top = max(ba for ba, _, _ in grid)
    near = [(gain, abs(shift), shift) for ba, gain, shift in grid if ba >= top - TOLERANCE]
    gain, _, shift = min(near)
    return gain, shift


def fit_and_evaluate(texts: Sequence[str], labels: npt.ArrayLike, embeddings: Sequence[npt.ArrayLike],
                     tickers: Sequence[str] = ()) -> tuple[SocialModel, SocialEvaluation]:
    """Fit on the first four fifths in time and report on the last fifth (the recipe of the shipped model).

    The decision rule (:func:`choose_decision`) is chosen on the last fifth of the training
    part with a model fitted on the rest of it; the model is then refitted on the whole
    training part with that rule. The held-out fifth is only scored. ``tickers`` and the
    embeddings are as :func:`fit_social` takes them. The metadata records the split, the
    inner and the held-out figures.
    """
    y = np.asarray(labels, dtype=np.int64)
    embs = [np.asarray(e) for e in embeddings]
    cut = time_split(len(texts))
    inner = time_split(cut)
    first = fit_social(texts[:inner], y[:inner], [e[:inner] for e in embs], tickers=tickers)
    z_inner = first.log_odds([e[inner:cut] for e in embs], texts[inner:cut])
    gain, shift = choose_decision(z_inner, y[inner:cut], texts[inner:cut])
    inner_result = evaluate_social("social", scores_of(texts[inner:cut], gain * z_inner + shift), y[inner:cut])
    model = fit_social(texts[:cut], y[:cut], [e[:cut] for e in embs], gain=gain, shift=shift, tickers=tickers)
    heldout_scores = scores_of(texts[cut:], model.log_odds([e[cut:] for e in embs], texts[cut:]))
    result = evaluate_social("social", heldout_scores, y[cut:])
    model = SocialModel(**{**asdict(model), "meta": {**model.meta, "heldout": asdict(result), "cut": cut,
                                                     "inner_cut": inner, "inner": asdict(inner_result),
                                                     "n_messages": len(texts)}})
    return model, result


@dataclass(frozen=True)
class SocialTrainReport:
    """What ``tftrade sentiment train-social`` did, with the held-out figures."""

    path: str
    model_bytes: int
    n_train: int
    heldout: SocialEvaluation
    baselines: list[SocialEvaluation]
    train_seconds: float
    encode_seconds: float


def train_and_save_social(out: Path | None = None, *, threads: int | None = 1, data: str | Path | None = None,
                          limit: int | None = None, baselines: bool = True) -> SocialTrainReport:
    """Encode the tagged messages, fit on the first four fifths in time, save, report on the last fifth.

    Every part reads the messages with their tickers masked: cashtags, and the symbols
    cashtagged in the training part (:func:`~tftrade.sentiment.social.cashtag_symbols`)
    where they are written without ``$``.

    ``limit`` keeps only the first ``limit`` messages in time (quick runs and tests; the
    shipped model uses all). With ``baselines`` the lexicon and learned scorers are
    reported on the same held-out fifth.
    """
    from tftrade.sentiment.encoder import Encoder
    from tftrade.sentiment.learned import LearnedScorer
    from tftrade.sentiment.lexicon import LexiconScorer

    texts, y = load_stocktwits(data)
    if limit is not None:
        texts, y = texts[:limit], y[:limit]
    cut = time_split(len(texts))
    learned = LearnedScorer(threads=threads)
    t0 = time.perf_counter()
    tickers = cashtag_symbols(texts[:cut])
    masker = ticker_masker(tickers)
    embs = embed_masked([learned.encoder, Encoder.load()], [mask_tickers(t, masker) for t in texts], 64, threads)
    t1 = time.perf_counter()
    model, result = fit_and_evaluate(texts, y, embs, tickers)
    t2 = time.perf_counter()
    path = model.save(out or SOCIAL_PATH)
    others: list[SocialEvaluation] = []
    if baselines:
        held = texts[cut:]
        others.append(evaluate_social("lexicon", LexiconScorer().score(held), y[cut:]))
        others.append(evaluate_social("learned", learned.score(held), y[cut:]))
    return SocialTrainReport(str(path), path.stat().st_size, cut, result, others, round(t2 - t1, 1),
                             round(t1 - t0, 1))
