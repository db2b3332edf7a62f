"""The social scorer: bullish or bearish, as StockTwits and Reddit users write it.

Every model reads the text with its tickers masked (:func:`mask_tickers`: each cashtag,
and each ticker written without ``$`` that :class:`~tftrade.sentiment.tickers.TickerExtractor`
finds, is the one token ``$ticker``), so which ticker a message names cannot decide its score. Three
linear models and the lexicon, trained on self-tagged StockTwits messages
(:mod:`tftrade.sentiment.social_train`, ``tftrade sentiment train-social``):

* **embeddings**: logistic regression on the 384-d sentence embedding of the news-tuned
  MiniLM (the ``learned`` scorer's encoder) and, separately, of the frozen MiniLM
  (:data:`ENCODERS`);
* **words**: logistic regression on hashed word and emoji counts (word n-grams and
  character n-grams optional: :func:`hasher`) (``🚀``, ``puts``,
  ``fuckkkked`` are tokens; :data:`TOKEN_PATTERN`), sub-linear TF-IDF, L2-normalised
  (:func:`words_text`); no vocabulary ships, only the weights of the hashed features seen
  in training;
* **lexicon** (when ``meta["lexicon"]``): the lexicon scorer's score (VADER plus the
  finance/WSB words and emoji).

Each part's log-odds are standardised by their out-of-fold mean and deviation and summed
with ``weights``; Platt
scaling of the sum gives the log-odds of bullish against bearish under an even prior (all
fits weight the classes to balance), and a decision rule chosen on a validation split
(:func:`~tftrade.sentiment.social_train.choose_decision`) may move them by a shift (the
shipped rule keeps it at 0), giving :math:`z`. With :math:`p = 1 / (1 + e^{-z})` the
probability of bullish, the score is

.. math:: s = \\operatorname{sign}(z) \\, (0.3 + 0.7 \\, |2p - 1|),

so its label (bullish above 0.3, bearish below -0.3) is the more probable of the two classes,
as the ``learned`` scorer's label is its most probable class; only a tie is neutral (the model
has no neutral class: StockTwits authors tag bullish or bearish). A text without content, or
in another language than English, scores 0.

Everything ships in ``assets/social.npz`` (plain arrays and JSON metadata; no pickle).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tftrade.sentiment.encoder import Precision
from tftrade.sentiment.errors import SentimentError
from tftrade.sentiment.tickers import TickerExtractor

SOCIAL_PATH = Path(__file__).parent / "assets" / "social.npz"
TOKEN_PATTERN = r"(?u)\$?\b\w+\b|[^\w\s]"
"""Words (with their cashtag ``$``), numbers, and single symbols or emoji."""
N_FEATURES = 2**18

F64 = npt.NDArray[np.float64]
_CONTENT = re.compile(r"[^\W_]|[^\w\s]", re.UNICODE)
_CASHTAG = re.compile(r"(?<![\w$])\$[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z]+)?")


def mask_cashtags(text: str) -> str:
    """Return ``text`` with each cashtag replaced by the same token ``$ticker``: what every model reads.

    Which ticker is named says nothing about the author's view in general (in the
    training month ``$TSLA`` was mostly tagged bearish), so no model may learn it: the
    encoders, the words model and the lexicon all read the masked text, and a message
    scores the same whichever cashtag it names.

    Examples
    --------
    >>> mask_cashtags("$TSLA and $brk.b to the MOON, $5 calls")
    '$ticker and $ticker to the MOON, $5 calls'
    """
    return _CASHTAG.sub("$ticker", text)


def ticker_masker(symbols: Iterable[str] = ()) -> TickerExtractor:
    """Return the extractor that finds tickers written without ``$``: the built-in universe plus ``symbols``.

    The shipped model names the symbols cashtagged in its training messages
    (``meta["tickers"]``), so "TSLA" and "gme" are masked as "$TSLA" is.
    """
    return TickerExtractor.from_securities((s, "") for s in symbols)


def mask_tickers(text: str, masker: TickerExtractor) -> str:
    """Return ``text`` with its cashtags (:func:`mask_cashtags`) and its bare tickers masked as ``$ticker``.

    Bare tickers are those ``masker`` takes (:meth:`~tftrade.sentiment.tickers.TickerExtractor.mask_symbols`):
    known upper-case symbols that are not stop-listed or dictionary words, and lower-case
    watch-list symbols; "IT is ON" and "cost" stay.

    Examples
    --------
    >>> mask_tickers("$TSLA and NVDA, gme too; IT is ON", ticker_masker())
    '$ticker and $ticker, $ticker too; IT is ON'
    """
    return masker.mask_symbols(mask_cashtags(text))


def cashtag_symbols(texts: Sequence[str]) -> list[str]:
    """Return the symbols cashtagged in ``texts``, upper case, sorted: the bare tickers the model masks.

    Examples
    --------
    >>> cashtag_symbols(["$tsla to $GME", "$5 on $brk.b"])
    ['BRK.B', 'GME', 'TSLA']
    """
    return sorted({m.group(0)[1:].upper() for t in texts for m in _CASHTAG.finditer(t)})


def words_text(text: str) -> str:
    """The words model's preprocessing: :func:`mask_cashtags`, lower case (after :meth:`SocialModel.mask`).

    Examples
    --------
    >>> words_text("$TSLA and $brk.b to the MOON, $5 calls")
    '$ticker and $ticker to the moon, $5 calls'
    """
    return mask_cashtags(text).lower()


def hasher(word_ngrams: Sequence[int] = (1, 1), char_ngrams: Sequence[int] | None = None) -> Any:
    """Return the stateless hashing vectoriser of the words model (raw counts; scikit-learn's).

    Word n-grams over :data:`TOKEN_PATTERN` hash into the first :data:`N_FEATURES` columns;
    with ``char_ngrams`` (``(lo, hi)``), character n-grams within word boundaries of the same
    text (:func:`words_text`) hash into the next :data:`N_FEATURES`.
    """
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.pipeline import FeatureUnion

    words = HashingVectorizer(n_features=N_FEATURES, analyzer="word", ngram_range=(word_ngrams[0], word_ngrams[1]),
                              token_pattern=TOKEN_PATTERN, preprocessor=words_text, alternate_sign=False, norm=None)
    if char_ngrams is None:
        return words
    chars = HashingVectorizer(n_features=N_FEATURES, analyzer="char_wb", ngram_range=(char_ngrams[0], char_ngrams[1]),
                              preprocessor=words_text, alternate_sign=False, norm=None)
    return FeatureUnion([("words", words), ("chars", chars)])


def model_hasher(meta: dict[str, Any]) -> Any:
    """The :func:`hasher` a model's metadata names (word unigrams when it names none)."""
    return hasher(meta.get("word_ngrams", (1, 1)), meta.get("char_ngrams"))


def tfidf(counts: Any, idf: F64) -> Any:
    """Sub-linear TF-IDF, L2-normalised rows, of a sparse count matrix (what scikit-learn's transformer does)."""
    from sklearn.preprocessing import normalize

    x = counts.astype(np.float64).tocsr()
    np.log(x.data, out=x.data)
    x.data += 1.0
    x = x.multiply(idf).tocsr()
    return normalize(x, norm="l2", copy=False)


ENCODERS = ("learned", "base")
"""The embeddings the model reads: the news-tuned MiniLM (the ``learned`` scorer's) and the frozen one."""


@dataclass(frozen=True)
class SocialModel:
    """The shipped weights: two embedding models, the words model, how they are combined.

    Attributes
    ----------
    emb_w, emb_b
        Embedding models, one row per :data:`ENCODERS`: bullish log-odds ``emb_k @ emb_w[k] + emb_b[k]``.
    word_idx, word_idf, word_w, word_b
        Words model over the hashed features ``word_idx`` (the others weigh 0).
    center, scale, weights
        Each model's log-odds are standardised with these (their out-of-fold mean and
        deviation in training: learned, base, words, then the lexicon's score when
        ``meta["lexicon"]``) and summed with ``weights``.
    platt
        ``(a, b)``: the log-odds are ``a * sum + b`` (fitted on the out-of-fold sums).
    meta
        Training data, split, hyper-parameters and held-out figures.
    """

    emb_w: F64
    emb_b: F64
    word_idx: npt.NDArray[np.int64]
    word_idf: F64
    word_w: F64
    word_b: float
    center: F64
    scale: F64
    weights: F64
    platt: F64
    meta: dict[str, Any]

    @cached_property
    def masker(self) -> TickerExtractor:
        """The bare-ticker extractor of :func:`mask_tickers`: built-in universe plus ``meta["tickers"]``."""
        return ticker_masker(self.meta.get("tickers", ()))

    def mask(self, texts: Sequence[str]) -> list[str]:
        """Return the texts as every part reads them: tickers masked (:func:`mask_tickers`)."""
        return [mask_tickers(t, self.masker) for t in texts]

    def save(self, path: str | Path) -> Path:
        """Write the model as a compressed ``.npz`` (float32 weights, JSON metadata)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {k: np.asarray(getattr(self, k), dtype=np.float32)
                                  for k in ("emb_w", "emb_b", "word_idf", "word_w", "word_b", "center", "scale",
                                            "weights", "platt")}
        arrays["word_idx"] = self.word_idx.astype(np.int32)
        arrays["meta"] = np.frombuffer(json.dumps(self.meta, sort_keys=True).encode(), dtype=np.uint8)
        with p.open("wb") as fh:
            np.savez_compressed(fh, **arrays)
        return p

    @classmethod
    def load(cls, path: str | Path = SOCIAL_PATH) -> SocialModel:
        """Read a model written by :meth:`save`.

        Raises
        ------
        SentimentError
            If the file is missing or not a social model.
        """
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as z:
                a = {k: z[k] for k in z.files}
            a.setdefault("weights", np.ones_like(a["center"]))  # written before the parts were weighted
            f = {k: a[k].astype(np.float64) for k in ("emb_w", "emb_b", "word_idf", "word_w", "center", "scale",
                                                      "weights", "platt")}
            return cls(word_idx=a["word_idx"].astype(np.int64), word_b=float(a["word_b"]),
                       meta=json.loads(a["meta"].tobytes().decode()), **f)
        except (OSError, KeyError, ValueError) as e:
            raise SentimentError(f"cannot read the social model {p}: {e}") from e

    def word_log_odds(self, texts: Sequence[str]) -> F64:
        """The words model's bullish log-odds of each text (its tickers masked: :meth:`mask`)."""
        width = N_FEATURES * (1 if self.meta.get("char_ngrams") is None else 2)
        idf = np.zeros(width)
        w = np.zeros(width)
        idf[self.word_idx] = self.word_idf
        w[self.word_idx] = self.word_w
        out: F64 = np.asarray(tfidf(model_hasher(self.meta).transform(self.mask(texts)), idf) @ w) + self.word_b
        return out

    def log_odds(self, embeddings: Sequence[npt.ArrayLike], texts: Sequence[str]) -> F64:
        """Combined bullish-versus-bearish log-odds of texts, given their embeddings (one per :data:`ENCODERS`).

        The embeddings are those of the masked texts (:meth:`mask`, as
        :meth:`SocialScorer.embed` computes them); the words model and the lexicon mask
        the texts themselves.
        """
        parts = [np.asarray(e, dtype=np.float64) @ w + b
                 for e, w, b in zip(embeddings, self.emb_w, self.emb_b, strict=True)]
        parts.append(self.word_log_odds(texts))
        if self.meta.get("lexicon"):
            parts.append(lexicon_scores(self.mask(texts)))
        total = sum(w * (z - c) / s for z, c, s, w in zip(parts, self.center, self.scale, self.weights, strict=True))
        out: F64 = self.platt[0] * np.asarray(total) + self.platt[1]
        return out


def lexicon_scores(texts: Sequence[str]) -> F64:
    """The lexicon scorer's scores (VADER plus the finance/WSB words and emoji), one input of the sum."""
    from tftrade.sentiment.lexicon import LexiconScorer

    out: F64 = np.asarray(LexiconScorer().score(texts), dtype=np.float64)
    return out


def score_of_log_odds(z: npt.ArrayLike) -> F64:
    """Return the score of bullish log-odds ``z``: :math:`\\pm(0.3 + 0.7\\,|2p - 1|)` with :math:`p` the probability.

    The label of the score (±0.3 thresholds) is the more probable class; :math:`|2p - 1|
    = \\tanh(|z| / 2)` is how far that class leads. Only ``z = 0`` (a tie) is neutral.

    Examples
    --------
    >>> score_of_log_odds([0.0, 2.0, -0.5, 0.01]).round(3).tolist()
    [0.0, 0.833, -0.471, 0.303]
    """
    zz = np.asarray(z, dtype=np.float64)
    out: F64 = np.sign(zz) * (0.3 + 0.7 * np.tanh(np.abs(zz) / 2))
    return out


def has_content(text: str) -> bool:
    """Whether ``text`` has a letter, digit, symbol or emoji to read (not only white space).

    Examples
    --------
    >>> has_content(""), has_content("   "), has_content("🚀"), has_content("$HOTH")
    (False, False, True, True)
    """
    return _CONTENT.search(text) is not None


class SocialScorer:
    """Score social-media texts with the shipped :class:`SocialModel` (see the module docstring).

    ``threads`` and ``precision`` are passed to the MiniLM encoder
    (:meth:`~tftrade.sentiment.encoder.Encoder.encode`). ``encoder`` lets a caller share one
    already loaded, in the order of :data:`ENCODERS` (:func:`load_encoders`).
    """

    name = "social"

    def __init__(self, path: str | Path = SOCIAL_PATH, batch_size: int = 64, threads: int | None = None,
                 precision: Precision = "fp32", encoders: Sequence[Any] | None = None) -> None:
        self.model = SocialModel.load(path)
        self.encoders = list(encoders) if encoders is not None else load_encoders()
        self.batch_size = batch_size
        self.threads = threads
        self.precision: Precision = precision

    def embed(self, texts: Sequence[str]) -> list[npt.NDArray[np.float32]]:
        """Return each encoder's embeddings of the texts with their tickers masked (:meth:`SocialModel.mask`).

        A masked text repeated within the call is encoded once.
        """
        return embed_masked(self.encoders, self.model.mask(texts), self.batch_size, self.threads, self.precision)

    def log_odds(self, texts: Sequence[str]) -> F64:
        """Return the combined bullish-versus-bearish log-odds of each text."""
        if len(texts) == 0:
            return np.zeros(0)
        return self.model.log_odds(self.embed(texts), texts)

    def score(self, texts: Sequence[str]) -> F64:
        """Return one score in ``[-1, 1]`` per text; 0 for a text without content or in a foreign language."""
        if len(texts) == 0:
            return np.zeros(0)
        return scores_of(texts, self.log_odds(texts))


def embed_masked(encoders: Sequence[Any], texts: Sequence[str], batch_size: int = 64, threads: int | None = None,
                 precision: Precision = "fp32") -> list[npt.NDArray[np.float32]]:
    """Return each encoder's embeddings of ``texts``, cashtags masked; each distinct masked text encoded once."""
    masked = [mask_cashtags(t) for t in texts]
    distinct = list(dict.fromkeys(masked))
    out = [e.encode(distinct, batch_size, threads, precision) for e in encoders]
    if len(distinct) < len(masked):
        index = {t: k for k, t in enumerate(distinct)}
        out = [e[[index[t] for t in masked]] for e in out]
    return out


def load_encoders() -> list[Any]:
    """Load the encoders of :data:`ENCODERS`: MiniLM with the ``learned`` adapter merged, and MiniLM as shipped."""
    from tftrade.sentiment.encoder import Encoder
    from tftrade.sentiment.finetune import Adapter
    from tftrade.sentiment.learned import ADAPTER_PATH

    return [Adapter.load(ADAPTER_PATH).apply(Encoder.load()), Encoder.load()]


def scores_of(texts: Sequence[str], z: npt.ArrayLike) -> F64:
    """Scores of texts from their log-odds: :func:`score_of_log_odds`, 0 without content or in a foreign language."""
    from tftrade.sentiment.language import neutralise_foreign

    s = score_of_log_odds(z)
    s[[k for k, t in enumerate(texts) if not has_content(t)]] = 0.0
    return neutralise_foreign(texts, s)
