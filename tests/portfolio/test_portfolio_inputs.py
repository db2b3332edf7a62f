"""Covariance, factor model, market prior and views from forecasts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from pypfopt import risk_models
from scipy.stats import norm

from tftrade.portfolio import (
    PortfolioError,
    bl_posterior,
    ledoit_wolf,
    market_implied_prior,
    optimize,
    views_from_forecasts,
)
from tftrade.portfolio.covariance import factor_model


def _hand_ledoit_wolf(x: np.ndarray) -> np.ndarray:
    """Ledoit & Wolf (2004), Lemma 3.2-3.4, written out directly."""
    t, n = x.shape
    xc = x - x.mean(axis=0)
    s = xc.T @ xc / t
    mu = np.trace(s) / n
    d2 = np.sum((s - mu * np.eye(n)) ** 2)
    b2 = sum(np.sum((np.outer(row, row) - s) ** 2) for row in xc) / t**2
    rho = min(b2, d2) / d2
    return rho * mu * np.eye(n) + (1 - rho) * s


def test_ledoit_wolf_matches_the_published_formula() -> None:
    x = np.random.default_rng(0).normal(0, 0.01, size=(60, 8)) @ np.diag(np.linspace(0.5, 2, 8))
    assert_allclose(ledoit_wolf(x, periods_per_year=1).cov, _hand_ledoit_wolf(x), rtol=1e-10)


def test_ledoit_wolf_on_real_prices_matches_pyportfolioopt(shared_data: Path) -> None:
    prices_file = shared_data / "sp500_daily" / "all_stocks_5yr.csv.gz"
    tickers = ["AAPL", "MSFT", "XOM", "JPM", "JNJ", "PG", "GE", "AMZN"]
    raw = pd.read_csv(prices_file, usecols=["date", "close", "Name"])
    prices = raw[raw["Name"].isin(tickers)].pivot(index="date", columns="Name", values="close").dropna()
    ours = ledoit_wolf(prices.pct_change().dropna().to_numpy())
    ref = risk_models.CovarianceShrinkage(prices, frequency=252).ledoit_wolf()
    assert_allclose(ours.cov, ref.to_numpy(), rtol=1e-8)
    assert 0 < ours.shrinkage < 1


def test_ledoit_wolf_rejects_nan() -> None:
    with pytest.raises(PortfolioError, match="non-finite"):
        ledoit_wolf([[0.01, np.nan], [0.0, 0.01], [0.02, 0.0]])


def test_factor_model_keeps_variances_and_recovers_low_rank() -> None:
    rng = np.random.default_rng(1)
    b = rng.normal(0, 0.2, (40, 4))
    cov = b @ b.T + np.diag(rng.uniform(0.001, 0.002, 40))
    fm = factor_model(cov, 4)
    approx = fm.loadings @ fm.loadings.T + np.diag(fm.specific)
    assert_allclose(np.diag(approx), np.diag(cov), rtol=1e-10)
    assert np.abs(approx - cov).max() < 0.01 * np.abs(cov).max()


def test_equal_weight_prior_when_caps_unknown() -> None:
    cov = np.array([[0.04, 0.01], [0.01, 0.09]])
    assert_allclose(market_implied_prior(cov, 3.0), 3.0 * cov @ [0.5, 0.5])
    assert_allclose(market_implied_prior(cov, 3.0, [2.0, 6.0]), 3.0 * cov @ [0.25, 0.75])


def test_views_from_forecasts_scale_and_confidence() -> None:
    p50 = np.array([0.002, np.nan, -0.001])
    q10, q90 = np.array([-0.01, 0.0, -0.02]), np.array([0.014, 0.0, 0.018])
    v = views_from_forecasts(p50, q10, q90, sentiment_confidence=[1.0, 0.5, 0.0], horizon=5)
    assert v.assets.tolist() == [0, 2]
    assert_allclose(v.Q, p50[[0, 2]] * 252 / 5)
    sigma = (q90 - q10)[[0, 2]] / (2 * norm.ppf(0.9))
    assert v.omega.shape == (2,)  # Ω's diagonal, as bl_posterior takes it
    assert_allclose(v.omega, sigma**2 * 252 / 5 * np.array([1.0, 2.0]))
    assert v.P.tolist() == [[1, 0, 0], [0, 0, 1]]
    with pytest.raises(PortfolioError, match="q_high is below q_low"):
        views_from_forecasts([0.0], [0.1], [-0.1])


def test_end_to_end_forecast_views_tilt_the_portfolio() -> None:
    rng = np.random.default_rng(2)
    n = 40
    cov = ledoit_wolf(rng.normal(0, 0.01, (300, n))).cov
    prior = market_implied_prior(cov)
    p50 = np.zeros(n)
    p50[:3] = 0.003
    views = views_from_forecasts(p50, p50 - 0.005, p50 + 0.005)
    post = bl_posterior(cov, prior, views.P, views.Q, views.omega)
    res = optimize(post.mean, cov, sectors=np.arange(n) % 5, betas=np.ones(n))
    assert res.weights[:3].min() == pytest.approx(0.05, abs=1e-6)
    assert res.relaxations == ()
