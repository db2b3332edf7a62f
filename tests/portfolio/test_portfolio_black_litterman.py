"""Black–Litterman against Idzorek (2005) and PyPortfolioOpt."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from pypfopt import BlackLittermanModel

from tftrade.portfolio import (
    PortfolioError,
    bl_posterior,
    default_omega,
    idzorek_omega,
    market_implied_prior,
)

# Idzorek (2005), "A step-by-step guide to the Black-Litterman model", Tables 1-4.
WEQ = np.array([0.1934, 0.2613, 0.1209, 0.1209, 0.0134, 0.0134, 0.2418, 0.0349])
SIGMA = np.array([
    [0.001005, 0.001328, -0.000579, -0.000675, 0.000121, 0.000128, -0.000445, -0.000437],
    [0.001328, 0.007277, -0.001307, -0.000610, -0.002237, -0.000989, 0.001442, -0.001535],
    [-0.000579, -0.001307, 0.059852, 0.027588, 0.063497, 0.023036, 0.032967, 0.048039],
    [-0.000675, -0.000610, 0.027588, 0.029609, 0.026572, 0.021465, 0.020697, 0.029854],
    [0.000121, -0.002237, 0.063497, 0.026572, 0.102488, 0.042744, 0.039443, 0.065994],
    [0.000128, -0.000989, 0.023036, 0.021465, 0.042744, 0.032056, 0.019881, 0.032235],
    [-0.000445, 0.001442, 0.032967, 0.020697, 0.039443, 0.019881, 0.028355, 0.035064],
    [-0.000437, -0.001535, 0.048039, 0.029854, 0.065994, 0.032235, 0.035064, 0.079958],
])
PI_PUBLISHED = np.array([0.0008, 0.0067, 0.0641, 0.0408, 0.0743, 0.0370, 0.0480, 0.0660])
P = np.array([
    [0, 0, 0, 0, 0, 0, 1, 0],
    [-1, 1, 0, 0, 0, 0, 0, 0],
    [0, 0, 0.9, -0.9, 0.1, -0.1, 0, 0],
], dtype=float)
Q = np.array([0.0525, 0.0025, 0.02])
DELTA, TAU = 3.07, 0.025
CONFIDENCES = [0.25, 0.50, 0.65]


def test_implied_prior_reproduces_idzorek_table_1() -> None:
    pi = market_implied_prior(SIGMA, DELTA, WEQ)
    # published covariances are rounded to 6 places, so allow 0.05 percentage points
    assert_allclose(pi, PI_PUBLISHED, atol=5e-4)


def test_default_omega_reproduces_idzorek_eq_11() -> None:
    omega = default_omega(SIGMA, P, TAU)
    assert_allclose(np.diag(omega), [0.000709, 0.000141, 0.000866], atol=1e-6)
    assert np.count_nonzero(omega - np.diag(np.diag(omega))) == 0


def test_posterior_reproduces_idzorek_table_4() -> None:
    post = bl_posterior(SIGMA, PI_PUBLISHED, P, Q, tau=TAU)
    published = np.array([0.07, 0.50, 6.50, 4.32, 7.59, 3.94, 4.93, 6.84]) / 100
    assert_allclose(post.mean, published, atol=2e-4)


def test_idzorek_confidences_reproduce_implied_omega() -> None:
    omega = idzorek_omega(SIGMA, P, CONFIDENCES, TAU)
    assert_allclose(np.diag(omega), [0.002126, 0.000141, 0.000466], rtol=5e-3)


def test_matches_pyportfolioopt_with_idzorek_confidences() -> None:
    ref = BlackLittermanModel(SIGMA, pi=PI_PUBLISHED, P=P, Q=Q, tau=TAU, omega="idzorek",
                              view_confidences=CONFIDENCES)
    post = bl_posterior(SIGMA, PI_PUBLISHED, P, Q, idzorek_omega(SIGMA, P, CONFIDENCES, TAU), tau=TAU)
    assert_allclose(np.diag(post.omega), np.diag(ref.omega), rtol=1e-12)
    assert_allclose(post.mean, np.asarray(ref.bl_returns()), atol=1e-12)
    assert_allclose(post.cov, np.asarray(ref.bl_cov()), atol=1e-12)


def test_matches_textbook_inverse_form() -> None:
    omega = default_omega(SIGMA, P, TAU)
    ts_inv, om_inv = np.linalg.inv(TAU * SIGMA), np.linalg.inv(omega)
    expected = np.linalg.solve(ts_inv + P.T @ om_inv @ P, ts_inv @ PI_PUBLISHED + P.T @ om_inv @ Q)
    assert_allclose(bl_posterior(SIGMA, PI_PUBLISHED, P, Q, tau=TAU).mean, expected, rtol=1e-9)


def test_confidence_extremes() -> None:
    certain = bl_posterior(SIGMA, PI_PUBLISHED, P, Q, idzorek_omega(SIGMA, P, [1, 1, 1], TAU), tau=TAU)
    assert_allclose(P @ certain.mean, Q, atol=1e-12)
    ignored = bl_posterior(SIGMA, PI_PUBLISHED, P, Q, idzorek_omega(SIGMA, P, [0, 0, 0], TAU), tau=TAU)
    assert_allclose(ignored.mean, PI_PUBLISHED, atol=1e-15)
    half = idzorek_omega(SIGMA, P, [0.5, 0.5, 0.5], TAU)
    assert_allclose(half, default_omega(SIGMA, P, TAU))


def test_idzorek_tilt_is_proportional_to_confidence_for_one_view() -> None:
    view = P[:1]
    w_prior = np.linalg.solve(DELTA * SIGMA, PI_PUBLISHED)

    def weights(conf: float) -> np.ndarray:
        post = bl_posterior(SIGMA, PI_PUBLISHED, view, Q[:1], idzorek_omega(SIGMA, view, [conf], TAU), tau=TAU)
        return np.linalg.solve(DELTA * SIGMA, post.mean)

    full_tilt = weights(1.0) - w_prior
    assert_allclose(weights(0.25) - w_prior, 0.25 * full_tilt, atol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"Q": [0.1, 0.2, 0.3, 0.4]}, "Q has 4 entries"),
        ({"tau": 0.0}, "tau must be > 0"),
        ({"omega": np.eye(2)}, "omega has shape"),
        ({"prior": [np.nan] * 8}, "prior contains non-finite"),
    ],
)
def test_bad_inputs_name_the_field(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"cov": SIGMA, "prior": PI_PUBLISHED, "P": P, "Q": Q}
    args.update(kwargs)
    with pytest.raises(PortfolioError, match=match):
        bl_posterior(**args)  # type: ignore[arg-type]


def test_confidence_out_of_range_is_rejected() -> None:
    with pytest.raises(PortfolioError, match=r"confidences must lie in \[0, 1\]"):
        idzorek_omega(SIGMA, P, [0.5, 1.5, 0.2], TAU)


# He & Litterman (1999), "The intuition behind Black-Litterman model portfolios", Tables 1-5:
# Australia, Canada, France, Germany, Japan, UK, USA.
HL_CORR = np.array([
    [1.000, 0.488, 0.478, 0.515, 0.439, 0.512, 0.491],
    [0.488, 1.000, 0.664, 0.655, 0.310, 0.608, 0.779],
    [0.478, 0.664, 1.000, 0.861, 0.355, 0.783, 0.668],
    [0.515, 0.655, 0.861, 1.000, 0.354, 0.777, 0.653],
    [0.439, 0.310, 0.355, 0.354, 1.000, 0.405, 0.306],
    [0.512, 0.608, 0.783, 0.777, 0.405, 1.000, 0.652],
    [0.491, 0.779, 0.668, 0.653, 0.306, 0.652, 1.000],
])
HL_VOL = np.array([16.0, 20.3, 24.8, 27.1, 21.0, 20.0, 18.7]) / 100
HL_SIGMA = HL_CORR * np.outer(HL_VOL, HL_VOL)
HL_WEQ = np.array([1.6, 2.2, 5.2, 5.5, 11.6, 12.4, 61.5]) / 100
HL_P = np.array([[0, 0, -0.295, 1, 0, -0.705, 0], [0, 1, 0, 0, 0, 0, -1]], dtype=float)
HL_Q = np.array([0.05, 0.03])


def _hl_weights(k: int) -> tuple[np.ndarray, np.ndarray]:
    pi = market_implied_prior(HL_SIGMA, 2.5, HL_WEQ)
    post = bl_posterior(HL_SIGMA, pi, HL_P[:k], HL_Q[:k], tau=0.05)
    return post.mean, np.linalg.solve(2.5 * post.cov, post.mean)


def test_he_litterman_equilibrium_returns() -> None:
    published = np.array([3.9, 6.9, 8.4, 9.0, 4.3, 6.8, 7.6]) / 100
    assert_allclose(market_implied_prior(HL_SIGMA, 2.5, HL_WEQ), published, atol=5e-4)


@pytest.mark.parametrize(
    ("k", "returns", "weights"),
    [
        (1, [4.3, 7.6, 9.3, 11.0, 4.5, 7.0, 8.1], [1.5, 2.1, -3.9, 35.4, 11.0, -9.5, 58.6]),  # Table 4
        (2, [4.4, 8.7, 9.5, 11.2, 4.6, 7.0, 7.5], [1.5, 41.9, -3.4, 33.6, 11.0, -8.2, 18.8]),  # Table 5
    ],
)
def test_he_litterman_posterior_and_optimal_weights(k: int, returns: list[float], weights: list[float]) -> None:
    mean, w = _hl_weights(k)
    assert_allclose(mean * 100, returns, atol=0.05)
    assert_allclose(w * 100, weights, atol=0.06)


def test_absolute_views_fast_path_matches_dense_formula() -> None:
    rng = np.random.default_rng(3)
    n = 30
    a = rng.normal(size=(n, n))
    sigma = a @ a.T / n + 0.01 * np.eye(n)
    pi = rng.normal(0.05, 0.02, n)
    assets = np.array([3, 0, 17, 29, 8])
    P = np.zeros((assets.size, n))
    P[np.arange(assets.size), assets] = [1.0, 2.0, -1.0, 1.0, 0.5]  # one-hot rows, scaled
    Q = rng.normal(0.05, 0.05, assets.size)
    om = rng.uniform(1e-4, 1e-3, assets.size)
    ts = 0.05 * sigma
    gain = ts @ P.T @ np.linalg.inv(P @ ts @ P.T + np.diag(om))
    post = bl_posterior(sigma, pi, P, Q, om, tau=0.05)
    assert_allclose(post.mean, pi + gain @ (Q - P @ pi), rtol=1e-10)
    assert_allclose(post.cov, sigma + ts - gain @ P @ ts, rtol=1e-10, atol=1e-14)
    assert_allclose(post.omega, np.diag(om))
    assert_allclose(bl_posterior(sigma, pi, P, Q, np.diag(om), tau=0.05).mean, post.mean, rtol=1e-12)
    dropped = bl_posterior(sigma, pi, P, Q, np.where(np.arange(5) == 2, np.inf, om), tau=0.05)
    keep = np.arange(5) != 2
    assert_allclose(dropped.mean, bl_posterior(sigma, pi, P[keep], Q[keep], om[keep], tau=0.05).mean, rtol=1e-12)
