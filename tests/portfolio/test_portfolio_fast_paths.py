"""The fast numerical paths agree with their references: Ledoit–Wolf, one-hot views, solver history."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.covariance import LedoitWolf

from tftrade.portfolio import OptimizerConfig, bl_posterior, ledoit_wolf, optimize


@pytest.mark.parametrize(("t", "n", "seed"), [(390, 500, 0), (60, 8, 1), (5, 30, 2), (2, 3, 3), (252, 40, 4)])
def test_ledoit_wolf_matches_sklearn(t: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    factor = rng.normal(0, 0.01, (t, 1))
    x = factor * rng.uniform(0.5, 1.5, n) + rng.normal(0, 0.01, (t, n)) * rng.uniform(0.3, 3.0, n)
    ref = LedoitWolf(assume_centered=False).fit(x)
    ours = ledoit_wolf(x, periods_per_year=1.0)
    assert_allclose(ours.cov, ref.covariance_, rtol=1e-10, atol=1e-14 * np.abs(ref.covariance_).max())
    assert ours.shrinkage == pytest.approx(float(ref.shrinkage_), rel=1e-10, abs=1e-14)
    assert np.array_equal(ours.cov, ours.cov.T)


def test_ledoit_wolf_degenerate_inputs_match_sklearn() -> None:
    const = np.ones((10, 4))  # zero covariance: no shrinkage, zero matrix
    assert_allclose(ledoit_wolf(const, 1.0).cov, LedoitWolf().fit(const).covariance_, atol=0)
    assert ledoit_wolf(const, 1.0).shrinkage == 0.0
    rng = np.random.default_rng(5)
    one_flat = rng.normal(0, 0.01, (50, 6))
    one_flat[:, 2] = 0.3  # one constant column
    assert_allclose(ledoit_wolf(one_flat, 1.0).cov, LedoitWolf().fit(one_flat).covariance_, rtol=1e-10, atol=1e-18)


def test_ledoit_wolf_scales_by_periods_per_year() -> None:
    x = np.random.default_rng(6).normal(0, 0.01, (100, 5))
    assert_allclose(ledoit_wolf(x, 252.0).cov, 252.0 * LedoitWolf().fit(x).covariance_, rtol=1e-10)


def _textbook_mean(sigma: np.ndarray, pi: np.ndarray, p: np.ndarray, q: np.ndarray, om: np.ndarray,
                   tau: float) -> np.ndarray:
    ts = tau * sigma
    return pi + ts @ p.T @ np.linalg.solve(p @ ts @ p.T + om, q - p @ pi)


@pytest.mark.parametrize("kind", ["subset", "permuted", "scaled", "zero_row", "two_in_a_row"])
def test_posterior_fast_pick_paths_match_the_dense_formula(kind: str) -> None:
    rng = np.random.default_rng(7)
    n = 12
    a = rng.normal(0, 0.1, (n, n))
    sigma = a @ a.T / n + 0.01 * np.eye(n)
    pi = rng.normal(0.05, 0.02, n)
    cols = {"subset": [0, 3, 4, 9], "permuted": [9, 0, 4, 3], "scaled": [1, 2, 5, 7]}.get(kind, [0, 3, 4, 9])
    p = np.zeros((4, n))
    p[np.arange(4), cols] = 2.0 if kind == "scaled" else 1.0
    if kind == "zero_row":  # four non-zeros but one row empty and one row with two: not one-hot
        p[1] = 0.0
        p[2, 11] = -1.0
    if kind == "two_in_a_row":
        p[0, 5] = -1.0
    q = rng.normal(0.03, 0.02, 4)
    om = np.diag(rng.uniform(0.001, 0.01, 4))
    if kind == "zero_row":
        om[1, 1] = np.inf  # an empty row is a dropped view
        keep = [0, 2, 3]
        want = _textbook_mean(sigma, pi, p[keep], q[keep], om[np.ix_(keep, keep)], 0.05)
    else:
        want = _textbook_mean(sigma, pi, p, q, om, 0.05)
    assert_allclose(bl_posterior(sigma, pi, p, q, om).mean, want, rtol=1e-10)


def test_optimizer_result_does_not_depend_on_call_history() -> None:
    rng = np.random.default_rng(8)
    n = 200
    sectors = rng.integers(0, 11, n).astype(str)
    betas = rng.uniform(0.6, 1.4, n)
    covs = [ledoit_wolf(rng.normal(0, 0.01, (120, n))).cov for _ in range(3)]
    mus = [rng.normal(0.0, 0.2, n) for _ in range(3)]
    cfg = OptimizerConfig()
    first = optimize(mus[0], covs[0], sectors=sectors, betas=betas, config=cfg).weights
    for i in (1, 2, 1):  # other covariances and returns in between (other equilibrations)
        optimize(mus[i], covs[i], sectors=sectors, betas=betas, config=cfg)
    optimize(mus[2], covs[0], sectors=sectors, betas=betas, config=cfg)  # same covariance, other returns
    again = optimize(mus[0], covs[0], sectors=sectors, betas=betas, config=cfg).weights
    assert np.array_equal(first, again)


def test_single_threaded_blas_limits_and_restores() -> None:
    from threadpoolctl import threadpool_info

    from tftrade.portfolio.threads import single_threaded_blas

    before = [(i["filepath"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]
    with single_threaded_blas():
        inside = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    after = [(i["filepath"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]
    assert inside and all(n == 1 for n in inside)
    assert after == before
