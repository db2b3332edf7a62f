"""The social scorer: held-out StockTwits targets from the shipped weights, slang and emoji, foreign text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tftrade.sentiment import BEARISH_BELOW, BULLISH_ABOVE, Scorer, make_scorer
from tftrade.sentiment.social import SOCIAL_PATH, SocialModel, SocialScorer, has_content, score_of_log_odds
from tftrade.sentiment.social_train import evaluate_social, fit_social, load_stocktwits, time_split


@pytest.fixture(scope="module")
def social() -> Iterator[SocialScorer]:
    yield SocialScorer(threads=1)


def test_is_a_scorer_and_the_default_for_comments(social: SocialScorer) -> None:
    from tftrade.cli.sentiment_cmd import COMMENT_SCORER

    assert isinstance(social, Scorer) and social.name == "social" == COMMENT_SCORER
    assert make_scorer("social").name == "social"


def test_shipped_weights_are_small_and_plain() -> None:
    assert SOCIAL_PATH.stat().st_size < 3_000_000
    model = SocialModel.load()
    assert model.emb_w.shape == (2, 384) and len(model.word_idx) == len(model.word_w) > 1000
    assert model.meta["heldout"]["balanced_accuracy"] >= 0.70 and model.meta["heldout"]["auc"] >= 0.85


def test_held_out_fifth_meets_the_targets(social: SocialScorer, shared_data: Path) -> None:
    texts, y = load_stocktwits()
    cut = time_split(len(texts))
    result = evaluate_social("social", social.score(texts[cut:]), y[cut:])
    assert result.n_bearish > 100
    assert result.balanced_accuracy >= 0.70 and result.auc >= 0.85, result
    assert result.recall_bearish >= 0.5 and result.recall_bullish >= 0.7, result


def test_slang_emoji_and_direction(social: SocialScorer) -> None:
    s = social.score(["$TSLA to the moon 🚀", "puts on $NVDA, this is going to zero, bagholders getting wrecked",
                      "🚀🚀🚀", "$AMC bagholders crying, sell before it dumps"])
    assert s[0] > 0.5 and s[2] > BULLISH_ABOVE
    assert s[1] < BEARISH_BELOW and s[3] < BEARISH_BELOW


def test_foreign_and_empty_are_neutral(social: SocialScorer) -> None:
    s = social.score(["großartig, kaufen!", "", "   ", "Die Aktie ist gut, jetzt kaufen"])
    np.testing.assert_array_equal(s, [0.0, 0.0, 0.0, 0.0])


def test_batch_equals_one_by_one_and_repeats(social: SocialScorer) -> None:
    texts = ["$GME squeeze is on", "$SPY puts printing", "$GME squeeze is on", "meh"]
    batch = social.score(texts)
    single = np.array([social.score([t])[0] for t in texts])
    np.testing.assert_allclose(batch, single, atol=1e-4)
    assert batch[0] == batch[2] and np.all(np.abs(batch) <= 1.0)


def test_fit_learns_a_planted_word() -> None:
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "omega"]
    texts, y = [], []
    for k in range(300):
        bull = k % 4 != 0
        texts.append(" ".join(rng.choice(words, 4)) + (" zoom" if bull else " gloom"))
        y.append(int(bull))
    emb = rng.normal(size=(300, 384))  # embeddings carry nothing: the words model must learn
    model = fit_social(texts[:240], y[:240], [emb[:240], emb[:240]])
    z = model.log_odds([emb[240:], emb[240:]], texts[240:])
    result = evaluate_social("fit", score_of_log_odds(z), y[240:])
    assert result.auc > 0.95 and result.balanced_accuracy > 0.9, result


def test_round_trip(tmp_path: Path) -> None:
    model = SocialModel.load()
    again = SocialModel.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_allclose(again.emb_w, model.emb_w)
    np.testing.assert_array_equal(again.word_idx, model.word_idx)
    assert again.meta == model.meta


def test_has_content() -> None:
    assert not has_content(" \n") and has_content("🚀") and has_content("a")
