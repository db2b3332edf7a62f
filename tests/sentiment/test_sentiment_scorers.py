"""One conformance suite over every scorer, plus each scorer's own behaviour."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tftrade.sentiment import BEARISH_BELOW, BULLISH_ABOVE, Scorer, SentimentError, label_of, make_scorer
from tftrade.sentiment.scorer import label_codes

TEXTS = [
    "$TSLA to the moon 🚀🚀 loading up on calls, tendies incoming",
    "puts on $NVDA, this is going to zero, bagholders getting wrecked",
    "anyone watching AAPL today?",
    "",
    "I am not bullish on Intel at all",
    "Goldman upgrades Nvidia to buy, shares jump",
    "Company X cuts guidance, stock plunges",
    "🚀" * 50,
    "a" * 5000,
]


@pytest.fixture(scope="module", params=["lexicon", "learned", "social"])
def scorer(request: pytest.FixtureRequest) -> Iterator[Scorer]:
    yield make_scorer(request.param)


def test_is_a_scorer(scorer: Scorer) -> None:
    assert isinstance(scorer, Scorer)
    assert scorer.name in ("lexicon", "learned", "social")


def test_scores_in_range_one_per_text(scorer: Scorer) -> None:
    s = scorer.score(TEXTS)
    assert s.shape == (len(TEXTS),) and s.dtype == np.float64
    assert np.all(np.isfinite(s)) and np.all(np.abs(s) <= 1.0)


def test_empty_batch(scorer: Scorer) -> None:
    assert scorer.score([]).shape == (0,)


def test_batch_equals_one_by_one_and_deterministic(scorer: Scorer) -> None:
    batch = scorer.score(TEXTS[:7])
    single = np.array([scorer.score([t])[0] for t in TEXTS[:7]])
    np.testing.assert_allclose(batch, single, atol=1e-4)
    np.testing.assert_array_equal(batch, scorer.score(TEXTS[:7]))


def test_lexicon_wsb_direction() -> None:
    # the learned head was trained on financial news and does not know WSB slang (see docs/sentiment.md)
    s = make_scorer("lexicon").score(TEXTS[:2])
    assert s[0] > BULLISH_ABOVE and s[1] < BEARISH_BELOW


def test_news_headlines_direction(scorer: Scorer) -> None:
    s = scorer.score(TEXTS[5:7])
    assert s[0] > 0 > s[1]


def test_better_than_chance_on_a_sample_of_sent_valid(scorer: Scorer, shared_data: Path) -> None:
    from tftrade.sentiment.evaluation import evaluate, load_labelled

    texts, labels = load_labelled("valid")
    pick = np.random.default_rng(0).choice(len(texts), 200, replace=False)
    if scorer.name == "social":  # no neutral class (StockTwits authors tag bullish or bearish): judge polarity
        polar = [k for k in pick if labels[k] != 2]
        s = scorer.score([texts[k] for k in polar])
        assert np.mean((s > 0) == (labels[polar] == 1)) > 0.75
        return
    result = evaluate(scorer, [texts[k] for k in pick], labels[pick])
    floor = {"lexicon": 0.4, "learned": 0.6}[scorer.name]  # chance macro-F1 is about 0.33
    assert result.macro_f1 > floor, result


def test_lexicon_negation_flips_sign() -> None:
    s = make_scorer("lexicon").score(["bullish on TSLA", "not bullish on TSLA", "never selling TSLA",
                                      "selling TSLA"])
    assert s[0] > 0 > s[1]
    assert s[2] > 0 > s[3]


def test_lexicon_wsb_words() -> None:
    s = make_scorer("lexicon").score(["tendies", "bagholder", "to the moon", "going to zero", "🚀", "📉"])
    assert list(np.sign(s)) == [1, -1, 1, -1, 1, -1]


@pytest.mark.parametrize(
    ("score", "label"),
    [(0.3, "neutral"), (-0.3, "neutral"), (np.nextafter(0.3, 1), "bullish"), (np.nextafter(-0.3, -1), "bearish"),
     (1.0, "bullish"), (-1.0, "bearish"), (0.0, "neutral")],
)
def test_label_thresholds_exactly(score: float, label: str) -> None:
    assert label_of(score) == label
    assert label_codes([score])[0] == {"bullish": 1, "bearish": -1, "neutral": 0}[label]


def test_unknown_scorer() -> None:
    with pytest.raises(SentimentError, match="unknown scorer 'vibes'"):
        make_scorer("vibes")
