"""The lexicon's fast paths (one tokenisation, phrase prefilter, lazy caps, per-call dedupe) keep VADER's rules."""

from __future__ import annotations

import math

import pytest

from tftrade.sentiment.lexicon import FINANCE_LEXICON, LexiconScorer, score_text


def _norm(total: float) -> float:
    return total / math.sqrt(total * total + 15.0)


@pytest.mark.parametrize("text", ["to the moon's", "TO THE MOON", "to-the moon", "x to the moon!"])
def test_phrases_found_past_the_prefilter(text: str) -> None:
    assert score_text(text) > 0.3


def test_phrase_value_and_apostrophe() -> None:
    assert score_text("to the moon's") == pytest.approx(_norm(FINANCE_LEXICON["tothemoon"]))
    assert score_text("going to zero") == pytest.approx(_norm(FINANCE_LEXICON["goingtozero"]))


def test_caps_rule_only_in_mixed_case() -> None:
    v = FINANCE_LEXICON["bullish"]
    assert score_text("BULLISH on it") == pytest.approx(_norm(v + 0.733))
    assert score_text("bullish on it") == pytest.approx(_norm(v))
    assert score_text("BULLISH ON IT") == pytest.approx(_norm(v))  # all caps: no emphasis


def test_negation_but_and_emoji() -> None:
    assert score_text("not bullish") == pytest.approx(_norm(FINANCE_LEXICON["bullish"] * -0.74))
    assert score_text("bearish but bullish") == pytest.approx(
        _norm(FINANCE_LEXICON["bearish"] * 0.5 + FINANCE_LEXICON["bullish"] * 1.5))
    assert score_text("🚀") == score_text("rocket") > 0


def test_repeated_texts_in_one_call_score_like_single_ones() -> None:
    texts = ["puts, dumping", "calls!", "puts, dumping", "meh", "calls!"]
    scores = LexiconScorer().score(texts)
    assert scores.tolist() == [score_text(t) for t in texts]
    assert scores[0] == scores[2] < 0 < scores[1] == scores[4]
    assert LexiconScorer().score([]).shape == (0,)
