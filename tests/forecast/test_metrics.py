"""Metrics against independent computations (scipy, hand formulas)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from tftrade.forecast import metrics


def test_ic_and_rank_ic_match_scipy_per_group() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    p = y + rng.normal(size=400)
    g = np.repeat(np.arange(40), 10)
    ref = np.mean([pearsonr(y[g == k], p[g == k])[0] for k in range(40)])
    ref_rank = np.mean([spearmanr(y[g == k], p[g == k])[0] for k in range(40)])
    assert metrics.information_coefficient(y, p, g) == pytest.approx(ref, rel=1e-10)
    assert metrics.information_coefficient(y, p, g, rank=True) == pytest.approx(ref_rank, rel=1e-10)


def test_rank_ic_handles_ties_like_scipy_and_skips_constant_forecasts() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 60).astype(float)
    p = rng.integers(0, 3, 60).astype(float)
    g = np.repeat(np.arange(6), 10)
    ref = np.mean([spearmanr(y[g == k], p[g == k])[0] for k in range(6)])
    assert metrics.information_coefficient(y, p, g, rank=True) == pytest.approx(ref, rel=1e-10)
    assert np.isnan(metrics.information_coefficient(y, np.zeros(60), g, rank=True))


def test_q_risk_is_twice_pinball_over_abs_target() -> None:
    y = np.array([0.02, -0.01, 0.03])
    pred = np.array([0.01, 0.0, -0.01])
    by_hand = 2 * (0.9 * 0.01 + 0.1 * 0.01 + 0.9 * 0.04) / 0.06
    assert metrics.q_risk(y, pred, 0.9) == pytest.approx(by_hand)


def test_directional_accuracy_and_coverage() -> None:
    y = np.array([1.0, -1.0, 2.0, 0.0])
    assert metrics.directional_accuracy(y, np.array([0.5, 0.5, 0.0, 1.0])) == pytest.approx(0.5)
    assert metrics.coverage(y, y - 1, y + 1) == 1.0
