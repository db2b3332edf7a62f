"""VaR/CVaR against hand formulas and against each other."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import norm

from tftrade.risk import RiskError, historical_var, monte_carlo_var, parametric_var, portfolio_var


def test_historical_matches_sorted_tail() -> None:
    r = np.random.default_rng(0).normal(0.0005, 0.01, 1000)
    res = historical_var(r, 0.95)
    srt = np.sort(r)
    pos = 0.05 * (len(r) - 1)
    q = srt[int(pos)] + (pos - int(pos)) * (srt[int(pos) + 1] - srt[int(pos)])
    assert res.var == pytest.approx(-q)
    assert res.cvar == pytest.approx(-srt[srt <= q].mean())
    assert res.cvar >= res.var


def test_parametric_matches_closed_form() -> None:
    r = np.random.default_rng(1).normal(0.001, 0.02, 500)
    mu, sd = r.mean(), r.std(ddof=1)
    res = parametric_var(r, 0.99)
    assert res.var == pytest.approx(-(mu - 2.3263478740 * sd), rel=1e-9)
    assert res.cvar == pytest.approx(-mu + sd * norm.pdf(2.3263478740) / 0.01, rel=1e-9)


def test_monte_carlo_converges_to_parametric() -> None:
    cov = np.array([[0.0004, 0.0001], [0.0001, 0.0009]])
    w = np.array([0.6, 0.4])
    mc = monte_carlo_var(w, [0.0, 0.0], cov, 0.95, n_sims=200_000, seed=3)
    sd = float(np.sqrt(w @ cov @ w))
    assert mc.var == pytest.approx(1.6448536 * sd, rel=0.02)
    assert mc.cvar == pytest.approx(sd * norm.pdf(1.6448536) / 0.05, rel=0.02)


def test_student_t_has_fatter_tail_at_99() -> None:
    cov = np.array([[0.0004]])
    normal = monte_carlo_var([1.0], [0.0], cov, 0.99, n_sims=100_000, seed=1)
    fat = monte_carlo_var([1.0], [0.0], cov, 0.99, n_sims=100_000, seed=1, dist="t", dof=4)
    assert fat.cvar > normal.cvar


def test_portfolio_var_methods_agree_on_normal_data() -> None:
    rng = np.random.default_rng(2)
    hist = rng.multivariate_normal([0, 0, 0], np.diag([1e-4, 2e-4, 3e-4]), size=5000)
    w = np.array([0.3, 0.3, 0.4])
    values = [portfolio_var(w, hist, 0.95, m).var for m in ("historical", "parametric", "monte_carlo")]
    assert_allclose(values, values[1], rtol=0.05)


def test_bad_alpha_and_short_history_raise() -> None:
    with pytest.raises(RiskError, match="alpha must lie"):
        historical_var([0.01, 0.02], alpha=1.0)
    with pytest.raises(RiskError, match="at least 2 finite returns"):
        historical_var([0.01, np.nan])
