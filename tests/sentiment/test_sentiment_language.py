"""The language check: foreign text scores neutral with a low weight; English and emoji are untouched."""

from __future__ import annotations

import numpy as np
import pytest

from tftrade.sentiment.language import FOREIGN_WEIGHT, english_words, is_foreign, language_weights
from tftrade.sentiment.lexicon import LexiconScorer


@pytest.mark.parametrize("text", [
    "großartig, kaufen!", "Die Aktie ist gut, jetzt kaufen", "es ist mir egal", "Tesla est une bonne action, acheter",
    "muy bueno, comprar acciones hoy", "特斯拉要涨了", "Тесла растет", "jetzt",
])
def test_foreign(text: str) -> None:
    assert is_foreign(text)


@pytest.mark.parametrize("text", [
    "$TSLA to the moon 🚀", "🚀🚀🚀", "", "12.5%", "Elon visited Grünheide today, bullish",
    "I love my café latte, buying SBUX", "$GME tendies incoming, hodl", "𝕎𝕙𝕖𝕟 𝕚𝕟 𝕕𝕠𝕦𝕓𝕥 𝕓𝕦𝕪 𝕥𝕙𝕖 𝕕𝕚𝕡",
    "Las Vegas Sands up 5% on amazon.com",
])
def test_english_or_wordless(text: str) -> None:
    assert not is_foreign(text)


def test_lexicon_scores_foreign_neutral_and_weights_it_low() -> None:
    texts = ["großartig, kaufen!", "$TSLA to the moon 🚀"]
    s = LexiconScorer().score(texts)
    assert s[0] == 0.0 and s[1] > 0.3
    np.testing.assert_array_equal(language_weights(texts), [FOREIGN_WEIGHT, 1.0])


def test_few_english_texts_of_the_data_are_foreign(shared_data) -> None:  # type: ignore[no-untyped-def]
    from tftrade.sentiment.evaluation import load_labelled

    texts, _ = load_labelled("valid")
    assert sum(map(is_foreign, texts)) <= 3  # the news set has one Chinese headline
    assert {"stock", "shares", "earnings", "tomorrow"} <= english_words()
