"""The fast scorer: VADER's lexicon and rules, extended with a finance/WSB lexicon.

The rules are VADER's (Hutto & Gilbert, 2014) re-implemented as one tight loop:
each word with a valence :math:`v_i` (VADER's lexicon, overridden and extended
by :data:`FINANCE_LEXICON`) is

* general-language valences scaled by :data:`GENERAL_WEIGHT` (finance words are not),
* scaled by booster words in the three words before it (``very``, ``slightly``),
* raised by :math:`0.733` in magnitude when written in capitals in a mixed-case text,
* multiplied by :math:`-0.74` when a negation (``not``, ``never``, ``don't``) is
  among the three words before it,
* halved before ``but`` and multiplied by 1.5 after it.

With :math:`s = \\sum_i v_i` plus an emphasis of :math:`0.292` per ``!`` (at most four)
in the direction of :math:`s`, the score is :math:`s / \\sqrt{s^2 + 15}` in ``[-1, 1]``.
Multi-word phrases (``to the moon``, ``going to zero``, ``buy the dip``) and emoji
(🚀 📈 📉) are rewritten to single lexicon tokens first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import cache

import numpy as np
import numpy.typing as npt

FINANCE_LEXICON: dict[str, float] = {
    # bullish
    "moon": 3.0, "mooning": 3.0, "tothemoon": 3.2, "tendies": 2.5, "rocket": 2.5, "rockets": 2.5, "calls": 1.5,
    "bullish": 2.8, "bull": 1.5, "bulls": 1.2, "breakout": 2.0, "breakingout": 2.2, "squeeze": 1.5,
    "shortsqueeze": 2.0, "rally": 2.0, "rallies": 2.0, "rallying": 2.0, "surge": 2.0, "surges": 2.0,
    "surging": 2.0, "soar": 2.5, "soars": 2.5, "soaring": 2.5, "beat": 1.5, "beats": 1.5, "upgrade": 2.0,
    "upgraded": 2.0, "upgrades": 2.0, "outperform": 2.0, "overweight": 1.5, "buy": 1.5, "buying": 1.5,
    "bought": 1.2, "loading": 1.5, "undervalued": 1.8, "green": 1.0, "hodl": 1.5, "diamondhands": 2.0,
    "buythedip": 2.0, "lambo": 2.0, "printing": 1.5, "stonks": 1.0, "higher": 1.0, "raises": 1.2,
    "raised": 1.2, "record": 1.0, "alltimehigh": 2.0, "tailwind": 1.5, "tailwinds": 1.5, "strongbuy": 3.0,
    "jumps": 1.8, "jumped": 1.8, "climbs": 1.5, "gains": 1.8, "gain": 1.5, "up": 0.6, "chartup": 2.0,
    "crushing": 2.0, "money": 1.0, "profit": 2.0, "profits": 2.0,
    # bearish
    "puts": -1.5, "bearish": -2.8, "bear": -1.5, "bears": -1.2, "bagholder": -2.5, "bagholders": -2.5,
    "bagholding": -2.5, "dump": -2.0, "dumping": -2.0, "dumped": -2.0, "crash": -2.5, "crashing": -2.5,
    "crashed": -2.5, "plunge": -2.5, "plunges": -2.5, "plunged": -2.5, "plummet": -2.5, "plummets": -2.5,
    "tank": -2.0, "tanking": -2.5, "tanked": -2.5, "sell": -1.5, "selling": -1.5, "sold": -1.0,
    "shorting": -1.5, "shorts": -1.0, "downgrade": -2.0, "downgraded": -2.0, "downgrades": -2.0,
    "underperform": -2.0, "underweight": -1.5, "overvalued": -1.8, "red": -1.0, "drilling": -2.0,
    "rugpull": -3.0, "goingtozero": -3.2, "worthless": -2.5, "bankrupt": -3.0, "bankruptcy": -3.0,
    "drops": -1.5, "drop": -1.5, "dropped": -1.5, "falls": -1.5, "fell": -1.5, "slump": -2.0,
    "slumps": -2.0, "cut": -1.0, "cuts": -1.2, "misses": -1.8, "missed": -1.8, "miss": -1.5, "lower": -1.0,
    "lowers": -1.5, "lowered": -1.5, "weak": -2.0, "weakness": -2.0, "warns": -2.0, "warning": -1.5,
    "layoffs": -2.0, "recession": -2.0, "headwinds": -1.5, "wrecked": -2.5, "rekt": -2.5, "guh": -2.0,
    "paperhands": -1.0, "deadcatbounce": -2.0, "chartdown": -2.0, "down": -0.6, "loss": -2.0,
    "losses": -2.0, "terrible": -2.5, "sinks": -2.0, "slides": -1.5, "bleeding": -2.0,
}
"""Finance and WallStreetBets words with VADER-scale valences (-4 … 4)."""

PHRASES: dict[str, str] = {
    "to the moon": "tothemoon", "going to zero": "goingtozero", "go to zero": "goingtozero",
    "buy the dip": "buythedip", "buying the dip": "buythedip", "diamond hands": "diamondhands",
    "paper hands": "paperhands", "short squeeze": "shortsqueeze", "all time high": "alltimehigh",
    "all-time high": "alltimehigh", "rug pull": "rugpull", "dead cat bounce": "deadcatbounce",
    "breaking out": "breakingout", "strong buy": "strongbuy", "price target raised": "raised",
    "short interest": "shortinterest",
}
"""Multi-word expressions rewritten to one token before scoring."""

EMOJI: dict[str, str] = {
    "🚀": " rocket ", "📈": " chartup ", "📉": " chartdown ", "🌙": " moon ", "💎": " diamondhands ",
    "🐂": " bull ", "🐻": " bear ", "💰": " money ", "🤑": " money ", "💀": " dead ", "🩸": " bleeding ",
}
"""Emoji mapped to lexicon tokens."""

GENERAL_WEIGHT = 0.6
"""Scale of VADER's general-language valences next to the finance lexicon (chosen on ``sent_train``:
accuracy 0.56 at 1.0, 0.63 at 0.6; general words like *love* or *crazy* say little about a stock)."""

_NEG_SCALAR = -0.74
_CAPS_INCR = 0.733
_EXCLAIM = 0.292
_ALPHA = 15.0
_TOKEN = re.compile(r"[A-Za-z][A-Za-z']*|!")
_PHRASE = re.compile(r"\b(" + "|".join(re.escape(p) for p in sorted(PHRASES, key=len, reverse=True)) + r")\b", re.I)
_EMOJI_RX = re.compile("[" + "".join(EMOJI) + "]")
_PHRASE_LAST = frozenset(p.replace("-", " ").split()[-1] for p in PHRASES)
_LOOKBACK = ((1, 1.0), (2, 0.95), (3, 0.9))


@cache
def _tables() -> tuple[dict[str, float], dict[str, float], frozenset[str]]:
    from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE, SentimentIntensityAnalyzer

    lexicon = {w: v * GENERAL_WEIGHT for w, v in SentimentIntensityAnalyzer().lexicon.items()}
    lexicon.update(FINANCE_LEXICON)
    negate = frozenset(NEGATE) | frozenset(w.replace("'", "") for w in NEGATE) | {"no", "nor", "neither"}
    return lexicon, dict(BOOSTER_DICT), negate


def _emoji_token(m: re.Match[str]) -> str:
    return EMOJI[m.group()]


def _has_phrase(lowered: str) -> bool:
    return any(p in lowered for p in PHRASES)


def score_text(text: str) -> float:
    """Return the lexicon score of one text, in ``[-1, 1]``.

    Examples
    --------
    >>> score_text("TSLA to the moon 🚀🚀") > 0.3
    True
    >>> score_text("not bullish on this at all") < 0
    True
    >>> score_text("")
    0.0
    """
    lexicon, boosters, negate = _tables()
    prepared = text if text.isascii() else _EMOJI_RX.sub(_emoji_token, text)
    lowered = prepared.lower()
    raw: list[str] | None = None
    if prepared.isascii():  # lower-casing ASCII keeps every token boundary: tokenise the lowered text once
        words = _TOKEN.findall(lowered)
        # A phrase match ends in its last word as a whole token unless an apostrophe extends it.
        maybe_phrase = not _PHRASE_LAST.isdisjoint(words) if "'" not in lowered else _has_phrase(lowered)
    else:
        raw = _TOKEN.findall(prepared)
        words = [w.lower() for w in raw]
        maybe_phrase = _has_phrase(lowered)
    if maybe_phrase and _has_phrase(lowered):
        prepared = _PHRASE.sub(lambda m: " " + PHRASES[m.group(1).lower()] + " ", prepared)
        raw = _TOKEN.findall(prepared)
        words = [w.lower() for w in raw]
    hits = [i for i, w in enumerate(words) if w in lexicon]
    if not hits:
        return 0.0
    if prepared.isupper():  # the caps rule needs mixed case
        raw = None
    elif raw is None and any(len(words[i]) > 1 and words[i].upper() in prepared for i in hits):
        raw = _TOKEN.findall(prepared)  # original case, only when a hit may be written in capitals
    last_but = len(words) - 1 - words[::-1].index("but") if "but" in words else -1
    valences: list[float] = []
    for i in hits:
        w = words[i]
        v = lexicon[w]
        if raw is not None and len(w) > 1 and raw[i].isupper():
            v += _CAPS_INCR if v > 0 else -_CAPS_INCR
        for back, decay in _LOOKBACK:
            if i < back:
                break
            prev = words[i - back]
            b = boosters.get(prev)
            if b is not None:
                v += (b if v > 0 else -b) * decay
            if prev in negate or prev.endswith("n't"):
                v *= _NEG_SCALAR
        if last_but >= 0:
            v *= 0.5 if i < last_but else 1.5
        valences.append(v)
    total = math.fsum(valences)
    if total:
        total += math.copysign(min(words.count("!"), 4) * _EXCLAIM, total)
    return max(-1.0, min(1.0, total / math.sqrt(total * total + _ALPHA)))


class LexiconScorer:
    """Score texts with :func:`score_text` (VADER + finance lexicon + negation).

    Examples
    --------
    >>> LexiconScorer().score(["puts on $TSLA, this will crash", "anyone watching $TSLA?"]).round(2).tolist()
    [-0.72, 0.0]
    """

    name = "lexicon"

    def score(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """Return one score in ``[-1, 1]`` per text; a text repeated within the call is scored once.

        A text in another language than English scores 0 (:func:`~tftrade.sentiment.language.is_foreign`).
        """
        from tftrade.sentiment.language import is_foreign

        seen: dict[str, float] = {}
        for t in texts:
            if t not in seen:
                v = score_text(t)
                seen[t] = 0.0 if v and is_foreign(t) else v  # a text already neutral needs no language check
        return np.fromiter(map(seen.__getitem__, texts), dtype=np.float64, count=len(texts))
