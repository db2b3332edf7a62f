"""Brinson attribution and Treynor–Mazuy against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tftrade.analytics import brinson, treynor_mazuy


def test_brinson_textbook_two_sector_example() -> None:
    # Portfolio: equities 70 % returning 5 %, bonds 30 % returning 2 %.
    # Benchmark: equities 60 % returning 4 %, bonds 40 % returning 3 %.
    res = brinson([0.7, 0.3], [0.6, 0.4], [0.05, 0.02], [0.04, 0.03], ["Equity", "Bond"], method="bhb")
    by_sector = dict(zip(res.sectors, zip(res.allocation, res.selection, res.interaction, strict=True), strict=True))
    assert by_sector["Equity"] == pytest.approx((0.1 * 0.04, 0.6 * 0.01, 0.1 * 0.01))
    assert by_sector["Bond"] == pytest.approx((-0.1 * 0.03, 0.4 * -0.01, -0.1 * -0.01))
    assert res.active_return == pytest.approx(0.7 * 0.05 + 0.3 * 0.02 - (0.6 * 0.04 + 0.4 * 0.03))
    fachler = brinson([0.7, 0.3], [0.6, 0.4], [0.05, 0.02], [0.04, 0.03], ["Equity", "Bond"])
    assert fachler.sectors == ("Bond", "Equity")
    assert fachler.allocation.tolist() == pytest.approx([-0.1 * (0.03 - 0.036), 0.1 * (0.04 - 0.036)])


@settings(max_examples=50, deadline=None, database=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 30), k=st.integers(1, 5))
def test_brinson_effects_sum_to_active_return(seed: int, n: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    wp, wb = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n))
    wp[rng.random(n) < 0.3] = 0.0
    wp = wp / wp.sum() if wp.sum() > 0 else wb
    rp, rb = rng.normal(0, 0.05, n), rng.normal(0, 0.05, n)
    sectors = rng.integers(0, k, n).astype(str)
    for method in ("bhb", "brinson_fachler"):
        tot = brinson(wp, wb, rp, rb, sectors, method=method).totals()  # type: ignore[arg-type]
        effects = tot["allocation"] + tot["selection"] + tot["interaction"]
        assert effects == pytest.approx(tot["active_return"], abs=1e-12)


def test_treynor_mazuy_matches_normal_equations_and_recovers_timing() -> None:
    rng = np.random.default_rng(3)
    m = rng.normal(0.0005, 0.012, 2000)
    y = 0.0002 + 0.8 * m + 3.0 * m**2 + rng.normal(0, 0.002, 2000)
    res = treynor_mazuy(y, m)
    x = np.column_stack([np.ones_like(m), m, m**2])
    coef = np.linalg.solve(x.T @ x, x.T @ y)
    assert [res.alpha, res.beta, res.gamma] == pytest.approx(coef.tolist(), rel=1e-8)
    resid = y - x @ coef
    se_gamma = np.sqrt(resid @ resid / (len(y) - 3) * np.linalg.inv(x.T @ x)[2, 2])
    assert res.t_gamma == pytest.approx(coef[2] / se_gamma, rel=1e-8)
    assert res.gamma == pytest.approx(3.0, abs=1.0) and res.t_gamma > 2
    assert res.r_squared == pytest.approx(1 - resid @ resid / ((y - y.mean()) ** 2).sum())
