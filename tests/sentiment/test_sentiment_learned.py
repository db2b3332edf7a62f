"""The learned head: training is reproducible and the shipped artifact loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tftrade.sentiment import SentimentError
from tftrade.sentiment.learned import HEAD_PATH, Head, train_head


def _toy(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 300)
    centres = rng.normal(size=(3, 384))
    x = (centres[y] + rng.normal(scale=0.5, size=(300, 384))).astype(np.float32)
    return x, y


def test_training_is_reproducible_and_learns(tmp_path: Path) -> None:
    x, y = _toy()
    a = train_head(x, y, epochs=5, hidden=16, seed=3)
    b = train_head(x, y, epochs=5, hidden=16, seed=3)
    np.testing.assert_array_equal(a.w1, b.w1)
    assert (a.proba(x).argmax(1) == y).mean() > 0.9
    loaded = Head.load(a.save(tmp_path / "h.npz"))
    np.testing.assert_allclose(loaded.score(x), a.score(x), atol=1e-2)
    assert loaded.meta["seed"] == 3


def test_bad_labels_rejected() -> None:
    x, _ = _toy()
    with pytest.raises(SentimentError, match="one label"):
        train_head(x, np.full(300, 5))


def test_shipped_head_is_small_and_plain_arrays() -> None:
    assert HEAD_PATH.stat().st_size < 500_000
    head = Head.load()
    assert head.w1.shape[1] == 384 and head.w2.shape[0] == 3
    with np.load(HEAD_PATH, allow_pickle=False) as z:
        assert set(z.files) == {"w1", "b1", "w2", "b2", "meta"}


def test_missing_head(tmp_path: Path) -> None:
    with pytest.raises(SentimentError, match="sentiment train"):
        Head.load(tmp_path / "none.npz")
