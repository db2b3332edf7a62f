"""Features one cross-section at a time equal the batch features over the same rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tftrade.features.dataset import build_panel
from tftrade.features.errors import FeatureError
from tftrade.features.incremental import IncrementalFeatures


def _market(t: int, n: int, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, (t, n)), axis=0))
    volume = rng.integers(0, 5000, (t, n)).astype(float)
    volume[rng.random((t, n)) < 0.1] = 0.0  # bars without trades: VWAP over zero volume
    wick = np.abs(rng.normal(0, 0.004, (t, n)))
    return {"open_": close * np.exp(rng.normal(0, 0.002, (t, n))), "high": close * np.exp(wick),
            "low": close * np.exp(-wick[::-1]), "close": close, "volume": volume}


def _batch(m: dict[str, Any]) -> np.ndarray:
    t, n = m["close"].shape
    p = build_panel(tickers=[f"T{i}" for i in range(n)], sectors=["x"] * n, timestamps=np.arange(t) * 60 * 10**9,
                    timeframe="1min", **m)
    assert p.observed_names == IncrementalFeatures(n).names
    return p.observed


def test_each_row_equals_build_panel_over_the_rows_up_to_it() -> None:
    m = _market(260, 6)
    f = IncrementalFeatures(6)
    rows = np.stack([f.update(*(m[k][t] for k in ("open_", "high", "low", "close", "volume"))) for t in range(260)])
    np.testing.assert_allclose(rows, _batch(m), rtol=1e-9, atol=1e-12)
    assert f.rows == 260


def test_a_bad_bar_raises_and_leaves_the_state_as_it_was() -> None:
    m = _market(80, 3, seed=1)
    keys = ("open_", "high", "low", "close", "volume")
    f = IncrementalFeatures(3)
    for t in range(40):
        f.update(*(m[k][t] for k in keys))
    bad = [m[k][40].copy() for k in keys]
    bad[3][1] = np.nan
    with pytest.raises(FeatureError, match="close of ticker #1"):
        f.update(*bad)
    bad = [m[k][40].copy() for k in keys]
    bad[4][2] = np.inf
    with pytest.raises(FeatureError, match="volume"):
        f.update(*bad)
    assert f.rows == 40
    rest = np.stack([f.update(*(m[k][t] for k in keys)) for t in range(40, 80)])
    np.testing.assert_allclose(rest, _batch(m)[40:], rtol=1e-9, atol=1e-12)


def _comments(t: int, n: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar mean tone (NaN where no comment) and count, with runs of bullish and bearish bars."""
    rng = np.random.default_rng(seed)
    count = rng.poisson(0.8, (t, n)).astype(float)
    tone = np.clip(np.sin(np.arange(t) / 9.0)[:, None] + rng.normal(0, 0.3, (t, n)), -1, 1)
    return np.where(count > 0, tone, np.nan), count


def test_sentiment_rows_equal_build_panel_with_comment_scores_and_counts() -> None:
    m = _market(200, 5, seed=3)
    score, count = _comments(200, 5)
    f = IncrementalFeatures(5)
    keys = ("open_", "high", "low", "close", "volume")
    rows = np.stack([f.update(*(m[k][t] for k in keys), score=score[t], count=count[t]) for t in range(200)])
    batch = build_panel(tickers=[f"T{i}" for i in range(5)], sectors=["x"] * 5, timestamps=np.arange(200) * 60 * 10**9,
                        timeframe="1min", sentiment_score=score, sentiment_count=count, **m)
    sent = slice(len(f.names) - 6, None)
    assert np.ptp(rows[:, :, sent][..., 4]) > 0.1  # the momentum moves: the averages are exercised
    assert rows[:, :, sent][..., 5].min() == 1.0
    np.testing.assert_allclose(rows, batch.observed, rtol=1e-9, atol=1e-12)


def test_sentiment_without_counts_counts_one_per_scored_bar_and_none_is_absent() -> None:
    m = _market(60, 3, seed=4)
    score, _ = _comments(60, 3, seed=5)
    keys = ("open_", "high", "low", "close", "volume")
    f, g = IncrementalFeatures(3), IncrementalFeatures(3)
    rows = np.stack([f.update(*(m[k][t] for k in keys), score=score[t]) for t in range(60)])
    none = np.stack([g.update(*(m[k][t] for k in keys)) for t in range(60)])
    batch = build_panel(tickers=["A", "B", "C"], sectors=["x"] * 3, timestamps=np.arange(60) * 60 * 10**9,
                        timeframe="1min", sentiment_score=score, **m)
    np.testing.assert_allclose(rows, batch.observed, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(none, _batch(m), rtol=1e-9, atol=1e-12)
    assert not none[:, :, -6:].any()
