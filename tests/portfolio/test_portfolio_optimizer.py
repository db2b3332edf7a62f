"""Constrained optimiser: every limit holds (property test), relaxations are reported."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from pydantic import ValidationError

from tftrade.portfolio import (
    OptimizationError,
    OptimizationResult,
    OptimizerConfig,
    investable,
    optimize,
    risk_parity_weights,
    sector_matrix,
)
from tftrade.portfolio.covariance import factor_model

TOL = 1e-6


def _universe(seed: int, n: int, n_sectors: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    loadings = rng.normal(0.0, 0.15, size=(n, 3))
    cov = loadings @ loadings.T + np.diag(rng.uniform(0.01, 0.09, n))
    return {
        "mu": rng.normal(0.06, 0.08, n),
        "cov": cov,
        "sectors": rng.integers(0, n_sectors, n),
        "betas": rng.uniform(0.2, 2.0, n),
    }


def _assert_respects_limits(res: OptimizationResult, uni: dict[str, np.ndarray], cfg: OptimizerConfig) -> None:
    """Hard limits hold exactly as configured; only the budget and the beta floor may give way, reported."""
    w, lim = res.weights, res.limits
    relaxed = {r.limit for r in res.relaxations}
    assert (lim.max_weight, lim.max_sector_weight, lim.beta_max) == (cfg.max_weight, cfg.max_sector_weight,
                                                                     cfg.beta_max)
    assert np.all(np.abs(w) <= cfg.max_weight + 1e-9)
    sector_sums = sector_matrix(uni["sectors"], w.shape[0]) @ w
    assert np.all(np.abs(sector_sums) <= cfg.max_sector_weight + 1e-9)
    assert uni["betas"] @ w <= cfg.beta_max + TOL
    assert w.sum() <= 1.0 + 1e-9
    assert ("budget" in relaxed) or abs(w.sum() - 1.0) < TOL
    assert abs(w.sum() - lim.budget) < TOL
    assert ("beta_min" in relaxed or "beta_band" in relaxed) or lim.beta_min == cfg.beta_min
    assert uni["betas"] @ w >= lim.beta_min - TOL
    if cfg.long_only:
        assert np.all(w >= 0.0)
    else:
        assert np.abs(w).sum() <= cfg.max_gross_leverage + TOL
    fully_investable = investable(cfg, sector_matrix(uni["sectors"], w.shape[0])) >= 1.0
    assert fully_investable or "budget" in relaxed


@settings(max_examples=60, deadline=None, database=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 60),
    n_sectors=st.integers(1, 11),
    long_only=st.booleans(),
    max_weight=st.floats(0.01, 0.6),
    max_sector=st.floats(0.05, 0.8),
    beta_lo=st.floats(0.5, 1.2),
    beta_width=st.floats(0.0, 0.6),
    risk_model=st.sampled_from(["full", "factor"]),
    with_prev=st.booleans(),
)
def test_no_output_ever_exceeds_a_hard_limit_for_any_universe_size(
    seed: int, n: int, n_sectors: int, long_only: bool, max_weight: float, max_sector: float,
    beta_lo: float, beta_width: float, risk_model: str, with_prev: bool,
) -> None:
    uni = _universe(seed, n, n_sectors)
    cfg = OptimizerConfig(long_only=long_only, max_weight=max_weight, max_sector_weight=max_sector,
                          beta_min=beta_lo, beta_max=beta_lo + beta_width, risk_model=risk_model,  # type: ignore[arg-type]
                          n_factors=3)
    prev = np.full(n, 1.0 / n) if with_prev else None
    res = optimize(uni["mu"], uni["cov"], sectors=uni["sectors"], betas=uni["betas"], prev_weights=prev, config=cfg)
    _assert_respects_limits(res, uni, cfg)


def test_few_names_hold_cash_instead_of_lifting_the_caps() -> None:
    """8 names at 5 % each: 40 % invested, 60 % cash, caps untouched (they were lifted to 12.5 %/37.5 % before)."""
    uni = _universe(3, 8, 5)
    uni["betas"] = np.ones(8)
    res = optimize(uni["mu"], uni["cov"], sectors=uni["sectors"], betas=uni["betas"])
    assert res.weights.max() <= 0.05 + 1e-12
    assert res.weights.sum() == pytest.approx(0.4, rel=1e-4)
    assert [r.limit for r in res.relaxations] == ["budget", "beta_min"]  # beta 0.4 at most with 60 % cash
    assert "stays in cash" in res.relaxations[0].reason
    _assert_respects_limits(res, uni, OptimizerConfig())


def test_beta_ceiling_is_hard_cash_brings_beta_down() -> None:
    uni = _universe(1, 40, 8)
    uni["sectors"] = np.arange(40) % 8
    uni["betas"] = np.full(40, 1.5)
    res = optimize(uni["mu"], uni["cov"], sectors=uni["sectors"], betas=uni["betas"])
    assert [r.limit for r in res.relaxations] == ["budget"]
    assert uni["betas"] @ res.weights == pytest.approx(1.2, rel=1e-4)
    assert res.weights.sum() == pytest.approx(0.8, rel=1e-4)
    _assert_respects_limits(res, uni, OptimizerConfig())


def test_feasible_problem_is_not_relaxed_and_caps_bind() -> None:
    uni = _universe(2, 60, 6)
    uni["betas"] = np.ones(60)
    res = optimize(uni["mu"], uni["cov"], sectors=uni["sectors"], betas=uni["betas"])
    assert res.relaxations == ()
    assert res.weights.max() == pytest.approx(0.05, abs=1e-6)


def test_high_trading_cost_keeps_current_weights() -> None:
    uni = _universe(3, 30, 3)
    prev = np.full(30, 1 / 30)
    cfg = OptimizerConfig(max_weight=0.1, max_sector_weight=1.0, beta_min=-5, beta_max=5, transaction_cost_bps=1e4)
    res = optimize(uni["mu"], uni["cov"], prev_weights=prev, config=cfg)
    assert_allclose(res.weights, prev, atol=1e-6)
    assert res.turnover < 1e-6


def test_risk_parity_blend_pulls_towards_equal_risk_contributions() -> None:
    uni = _universe(4, 8, 1)
    cfg = OptimizerConfig(max_weight=1.0, max_sector_weight=1.0, transaction_cost_bps=0, risk_parity_blend=0.999)
    res = optimize(np.zeros(8), uni["cov"], config=cfg)
    w_rp = risk_parity_weights(uni["cov"])
    contributions = w_rp * (uni["cov"] @ w_rp)
    assert_allclose(contributions / contributions.sum(), np.full(8, 1 / 8), atol=1e-4)
    assert_allclose(res.weights, w_rp, atol=2e-3)


def test_factor_risk_model_is_near_optimal_under_the_full_covariance() -> None:
    rng = np.random.default_rng(5)
    loadings = rng.normal(0, 0.2, (50, 3))
    cov = loadings @ loadings.T + np.diag(rng.uniform(0.01, 0.03, 50))
    mu = rng.normal(0.05, 0.05, 50)
    base = {"max_weight": 0.2, "transaction_cost_bps": 0.0}
    full = optimize(mu, cov, config=OptimizerConfig(risk_model="full", **base))
    fact = optimize(mu, cov, config=OptimizerConfig(risk_model="factor", n_factors=5, **base))

    def utility(w: np.ndarray) -> float:
        return float(mu @ w - 1.25 * w @ cov @ w)

    assert utility(full.weights) >= utility(fact.weights) - 1e-7
    assert utility(fact.weights) >= utility(full.weights) - 2e-3 * abs(utility(full.weights))


def test_long_short_can_short() -> None:
    uni = _universe(6, 40, 4)
    uni["mu"][:5] = -0.5
    cfg = OptimizerConfig(long_only=False, beta_min=-5, beta_max=5)
    res = optimize(uni["mu"], uni["cov"], sectors=uni["sectors"], config=cfg)
    assert res.weights[:5].max() < 0


def test_config_is_frozen_and_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        OptimizerConfig(max_wieght=0.1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        OptimizerConfig(beta_min=1.3, beta_max=1.2)
    with pytest.raises(ValidationError):
        OptimizerConfig().max_weight = 0.2  # type: ignore[misc]


def test_cached_risk_model_follows_a_changed_covariance() -> None:
    a, b = _universe(11, 200, 5), _universe(12, 200, 5)
    cfg = OptimizerConfig(risk_model="factor", beta_min=-10.0, beta_max=10.0)
    kwargs = {"sectors": a["sectors"], "betas": a["betas"], "config": cfg}
    optimize(a["mu"], a["cov"], **kwargs)  # fills the compiled problem with a's risk model
    after_a = optimize(a["mu"], b["cov"], **kwargs)
    assert not np.allclose(after_a.weights, optimize(a["mu"], a["cov"], **kwargs).weights, atol=1e-4)
    fresh = optimize(a["mu"], b["cov"] * 1.0, **kwargs)  # equal values, another array object
    assert_allclose(after_a.weights, fresh.weights, atol=1e-9)


def test_default_clarabel_settings_agree_with_clarabel_defaults() -> None:
    uni = _universe(13, 300, 8)
    kwargs = {"sectors": uni["sectors"], "betas": uni["betas"]}
    tuned = optimize(uni["mu"], uni["cov"], **kwargs, config=OptimizerConfig())
    plain = optimize(uni["mu"], uni["cov"], **kwargs, config=OptimizerConfig(solver_options={}))
    assert_allclose(tuned.weights, plain.weights, atol=1e-5)
    with pytest.raises(OptimizationError, match=r"CLARABEL rejected solver_options.*no_such_setting"):
        optimize(uni["mu"], uni["cov"], **kwargs, config=OptimizerConfig(solver_options={"no_such_setting": 1}))


def _cvxpy_reference(uni: dict[str, np.ndarray], prev: np.ndarray, long_only: bool, cov: np.ndarray) -> np.ndarray:
    """The optimiser's problem written independently in cvxpy (caps 6 %, sectors 40 %, beta 0.9-1.1, gross 1.5)."""
    n = prev.shape[0]
    w = cp.Variable(n)
    smat = sector_matrix(uni["sectors"], n)
    beta = uni["betas"] @ w
    cons = [cp.sum(w) == 1, cp.abs(w) <= 0.06, cp.abs(smat @ w) <= 0.4, beta >= 0.9, beta <= 1.1]
    cons += [w >= 0] if long_only else [cp.norm1(w) <= 1.5]
    objective = uni["mu"] @ w - 1.25 * cp.quad_form(w, cp.psd_wrap(cov)) - 1e-3 * cp.norm1(w - prev)
    cp.Problem(cp.Maximize(objective), cons).solve(solver="CLARABEL")
    return np.asarray(w.value)


_REF_CONFIG = {"max_weight": 0.06, "max_sector_weight": 0.4, "beta_min": 0.9, "beta_max": 1.1,
               "max_gross_leverage": 1.5}


@pytest.mark.parametrize("risk_model", ["full", "factor"])
@pytest.mark.parametrize("long_only", [True, False])
def test_direct_clarabel_qp_matches_an_independent_cvxpy_model(long_only: bool, risk_model: str) -> None:
    uni = _universe(21, 60, 4)
    prev = np.full(60, 1 / 60)
    cfg = OptimizerConfig(long_only=long_only, risk_model=risk_model, n_factors=5, **_REF_CONFIG)
    res = optimize(uni["mu"], uni["cov"], sectors=uni["sectors"], betas=uni["betas"], prev_weights=prev, config=cfg)
    assert res.relaxations == ()
    cov = uni["cov"]
    if risk_model == "factor":
        fm = factor_model(cov, 5)
        cov = fm.loadings @ fm.loadings.T + np.diag(fm.specific)
    assert_allclose(res.weights, _cvxpy_reference(uni, prev, long_only, cov), atol=2e-5)


def test_repeated_solves_of_one_shape_follow_every_input() -> None:
    """The cached solver is updated in place between calls; each answer must match a fresh model."""
    cfg = OptimizerConfig(risk_model="full", **_REF_CONFIG)
    prev = np.full(40, 1 / 40)
    for seed in (31, 32, 32, 33):  # new data, same data again, new data
        uni = _universe(seed, 40, 4)
        uni["mu"] = uni["mu"] + 0.01 * seed
        res = optimize(uni["mu"], uni["cov"], sectors=uni["sectors"], betas=uni["betas"], prev_weights=prev,
                       config=cfg)
        assert_allclose(res.weights, _cvxpy_reference(uni, prev, True, uni["cov"]), atol=2e-5)
        prev = res.weights
