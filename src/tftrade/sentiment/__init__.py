"""Social sentiment: find tickers in comments, score them, aggregate per window, detect momentum.

The pipeline is ``extract`` (:mod:`~tftrade.sentiment.tickers`) → ``score``
(:mod:`~tftrade.sentiment.lexicon` fast path; :mod:`~tftrade.sentiment.learned`:
MiniLM with LoRA-tuned top layers and a head, :mod:`~tftrade.sentiment.finetune`)
→ ``down-weight noise`` (:mod:`~tftrade.sentiment.noise`) → ``aggregate``
(:mod:`~tftrade.sentiment.aggregate`) → ``momentum``
(:mod:`~tftrade.sentiment.momentum`, stored by :mod:`tftrade.store.momentum`).
"""

from __future__ import annotations

from tftrade.sentiment.errors import SentimentError
from tftrade.sentiment.scorer import BEARISH_BELOW, BULLISH_ABOVE, Label, Scorer, label_of, make_scorer

__all__ = ["BEARISH_BELOW", "BULLISH_ABOVE", "Label", "Scorer", "SentimentError", "label_of", "make_scorer"]
