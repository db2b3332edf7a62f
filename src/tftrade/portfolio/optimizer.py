r"""Constrained mean–variance optimiser (cvxpy) with reported relaxations.

Solves

.. math::

    \max_w\ \mu^\top w - \tfrac{\delta}{2} w^\top\Sigma w
        - \gamma (w - w_{rp})^\top\Sigma (w - w_{rp}) - c^\top |w - w_0|

    \text{s.t.}\ \mathbf 1^\top w = 1,\ |w_i| \le \bar w,\ |S w| \le \bar s,\
    \beta_{min} \le \beta^\top w \le \beta_{max},\ (w \ge 0 \text{ or } \|w\|_1 \le G)

where :math:`S` is the sector indicator matrix, :math:`w_0` the current weights,
:math:`c` the per-unit trading cost (``transaction_cost_bps``/1e4 + ``turnover_penalty``),
:math:`w_{rp}` the equal-risk-contribution portfolio and
:math:`\gamma = \tfrac{\delta}{2}\,b/(1-b)` for ``risk_parity_blend`` :math:`b`.

Hard limits and what gives way
------------------------------
``max_weight``, ``max_sector_weight``, ``max_gross_leverage`` and ``beta_max`` are hard:
no output ever exceeds them. When they cannot hold a fully invested book, the soft goals
give way, in this order, each to the nearest feasible value, reported in
:attr:`OptimizationResult.relaxations`:

1. ``budget`` (full investment): the weights sum to
   :math:`b = \min(1, \sum_s \min(\bar s, n_s \bar w))` instead of 1 and the rest is a
   **cash sleeve** (e.g. 8 names at 5 % hold 40 % and 60 % cash).
2. ``beta_min`` (the band's floor): lowered to the largest beta reachable under the hard
   limits (two LPs) when the band cannot be reached from below.
3. ``budget`` again when even the lowest reachable beta exceeds ``beta_max``: the book is
   scaled towards cash until its beta is at ``beta_max``.

The objective's soft terms (turnover penalty, transaction cost, risk-parity blend) never
make the problem infeasible; they trade off against return and risk.

Tax-aware term (optional)
-------------------------
With ``tax=TaxTerm(schedules, equity)`` the objective also subtracts the tax of selling,
:math:`\sum_i T_i(\text{equity}\,(w_{0,i} - w_i)^+)/\text{equity}`
(:func:`~tftrade.portfolio.tax.tax_cost_expression`: convex, piecewise linear in the lots,
losses' negative tax clipped to 0), so a sale must earn its tax. That problem depends on the
lots, so it is built per call (cvxpy, the configured solver) instead of the cached one; the
limits and their relaxations are the same. ``tax=None`` (the default) solves exactly as before.
Settings: ``risk.tax_aware`` and the rates ``risk.tax_rate_short`` / ``risk.tax_rate_long``.

Risk model
----------
``risk_model="full"`` uses :math:`\|U w\|^2` with :math:`U^\top U = \Sigma` (Cholesky).
``"factor"`` replaces :math:`\Sigma` by :func:`~tftrade.portfolio.covariance.factor_model`
(:math:`BB^\top + \mathrm{diag}(d)`, variances exact), i.e. :math:`\|B^\top w\|^2 + \|\sqrt d \circ w\|^2`,
which keeps the problem sparse; ``"auto"`` picks it above ``factor_threshold`` assets.
Limits are enforced identically under both. Compiled problems are cached per shape
(cvxpy DPP), so repeated calls only refill parameters; the risk parameters (factor model
or Cholesky factor) are recomputed only when the covariance changes between calls.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import cvxpy as _cvxpy
import numpy as np
import numpy.typing as npt

from tftrade.core.types import Float64Array
from tftrade.portfolio._validate import as_covariance, as_vector
from tftrade.portfolio.config import OptimizerConfig
from tftrade.portfolio.errors import OptimizationError, PortfolioError
from tftrade.portfolio.qp_clarabel import QPShape, QPValues, clarabel_qp
from tftrade.portfolio.risk_factors import RiskFactorCache
from tftrade.portfolio.risk_parity import risk_parity_weights
from tftrade.portfolio.tax import TaxSchedule, tax_cost_expression

log = logging.getLogger(__name__)
cp: Any = _cvxpy  # cvxpy's type hints are incomplete (cp.sum, cp.norm1, ... are untyped)

LimitName = Literal["budget", "beta_min", "beta_band"]
_SLACK = 1e-5
#: Clarabel settings used when ``OptimizerConfig.solver_options`` is ``None``. Iterative
#: refinement of the KKT solves costs a third of the solve time on 500 assets and moves
#: weights by ~2e-7; the termination tolerances (1e-8) are Clarabel's defaults.
CLARABEL_DEFAULTS: dict[str, Any] = {"iterative_refinement_enable": False}


@dataclass(frozen=True, slots=True)
class Relaxation:
    """One limit that was relaxed to make the problem feasible."""

    limit: LimitName
    requested: tuple[float, ...]
    applied: tuple[float, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits actually enforced (after relaxation)."""

    max_weight: float
    max_sector_weight: float
    beta_min: float
    beta_max: float
    budget: float = 1.0
    """Sum of the weights; below 1 the rest is held in cash."""


@dataclass(frozen=True, slots=True)
class OptimizationResult:
    """Optimal weights and what they cost.

    ``turnover`` is one-way: :math:`\\tfrac12\\sum_i |w_i - w_{0,i}|`.
    """

    weights: Float64Array
    expected_return: float
    volatility: float
    beta: float
    turnover: float
    limits: Limits
    relaxations: tuple[Relaxation, ...]


@dataclass(frozen=True, slots=True)
class TaxTerm:
    """The tax of selling per asset (``None``: nothing held, no tax) and the equity weights are fractions of."""

    schedules: Sequence[TaxSchedule | None]
    equity: float

    def active(self) -> bool:
        """Whether any asset has lots to tax."""
        return any(s is not None and s.sizes for s in self.schedules)


@dataclass(frozen=True, slots=True)
class _Universe:
    mu: Float64Array
    cov: Float64Array
    sector_matrix: Float64Array
    betas: Float64Array | None
    prev: Float64Array


def optimize(
    mu: npt.ArrayLike,
    cov: npt.ArrayLike,
    *,
    sectors: npt.ArrayLike | None = None,
    betas: npt.ArrayLike | None = None,
    prev_weights: npt.ArrayLike | None = None,
    config: OptimizerConfig | None = None,
    tax: TaxTerm | None = None,
) -> OptimizationResult:
    """Return the constrained optimal weights for expected returns ``mu`` and covariance ``cov``.

    Parameters
    ----------
    mu : expected returns, shape ``(n,)`` (same units as ``cov``).
    cov : covariance, shape ``(n, n)``.
    sectors : one label per asset; no sector limit when ``None``.
    betas : beta of each asset against the benchmark; no beta band when ``None``.
    prev_weights : current weights (cash = 0); zeros when ``None``.
    config : limits and penalties; :class:`OptimizerConfig` defaults when ``None``.
    tax : the tax of selling (see "Tax-aware term"); none when ``None``.

    Raises
    ------
    PortfolioError
        On invalid inputs.
    OptimizationError
        If the solver fails after every relaxation.

    Examples
    --------
    >>> res = optimize([0.1, 0.05], [[0.04, 0.0], [0.0, 0.04]], config=OptimizerConfig(max_weight=1.0))
    >>> res.weights.round(3).tolist(), [r.limit for r in res.relaxations]
    ([0.75, 0.25], [])
    """
    cfg = config or OptimizerConfig()
    uni = _universe(mu, cov, sectors, betas, prev_weights)
    if tax is not None:
        if len(tax.schedules) != uni.mu.shape[0] or not (np.isfinite(tax.equity) and tax.equity > 0):
            raise PortfolioError(f"tax term: {len(tax.schedules)} schedules for {uni.mu.shape[0]} assets and equity "
                                 f"{tax.equity!r}; need one schedule (or None) per asset and a positive equity")
        tax = tax if tax.active() else None
    limits, relaxed = _budget(cfg, uni.sector_matrix)
    weights = _solve(uni, cfg, limits, tax)
    if weights is None and uni.betas is not None:
        limits, more = _relax_beta(uni, cfg, limits)
        if more:
            relaxed.extend(more)
            weights = _solve(uni, cfg, limits, tax)
    if weights is None:
        raise OptimizationError(f"optimiser found no solution with limits {limits}")
    for r in relaxed:
        log.warning("relaxed %s from %s to %s: %s", r.limit, r.requested, r.applied, r.reason)
    return _result(weights, uni, limits, tuple(relaxed))


def _universe(
    mu: npt.ArrayLike, cov: npt.ArrayLike, sectors: npt.ArrayLike | None,
    betas: npt.ArrayLike | None, prev: npt.ArrayLike | None,
) -> _Universe:
    sigma = as_covariance(cov)
    n = sigma.shape[0]
    if n == 0:
        raise PortfolioError("the universe is empty")
    return _Universe(
        mu=as_vector(mu, "mu", n),
        cov=sigma,
        sector_matrix=sector_matrix(sectors, n),
        betas=None if betas is None else as_vector(betas, "betas", n),
        prev=np.zeros(n) if prev is None else as_vector(prev, "prev_weights", n),
    )


def sector_matrix(sectors: npt.ArrayLike | None, n: int) -> Float64Array:
    """Return the ``(k, n)`` 0/1 indicator matrix of sector labels (``(0, n)`` when ``None``).

    Examples
    --------
    >>> sector_matrix(["a", "b", "a"], 3).tolist()
    [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    if sectors is None:
        return np.zeros((0, n))
    labels = np.asarray(sectors).reshape(-1)
    if labels.shape[0] != n:
        raise PortfolioError(f"sectors has {labels.shape[0]} entries, expected {n}")
    _, codes = np.unique(labels, return_inverse=True)
    out = np.zeros((int(codes.max()) + 1, n))
    out[codes, np.arange(n)] = 1.0
    return out


def investable(cfg: OptimizerConfig, smat: Float64Array) -> float:
    """The largest net weight the hard caps allow: sum over sectors of min(sector cap, names x stock cap).

    Examples
    --------
    >>> investable(OptimizerConfig(), sector_matrix(["a"] * 8, 8))
    0.25
    >>> round(investable(OptimizerConfig(), sector_matrix(list("abcdefgh"), 8)), 6)
    0.4
    """
    n = smat.shape[1]
    counts = smat.sum(axis=1)
    cap = float(np.minimum(cfg.max_sector_weight, counts * cfg.max_weight).sum()) if counts.size \
        else n * cfg.max_weight
    return float(min(cap, n * cfg.max_weight, cfg.max_gross_leverage if not cfg.long_only else np.inf))


def _budget(cfg: OptimizerConfig, smat: Float64Array) -> tuple[Limits, list[Relaxation]]:
    limits = Limits(cfg.max_weight, cfg.max_sector_weight, cfg.beta_min, cfg.beta_max)
    room = investable(cfg, smat)
    if room >= 1.0:
        return limits, []
    budget = room * (1.0 - _SLACK)
    reason = (f"{smat.shape[1]} assets under a {cfg.max_weight:.2%} stock cap and a {cfg.max_sector_weight:.2%} "
              f"sector cap can hold {room:.2%}: {1 - budget:.2%} stays in cash")
    return Limits(cfg.max_weight, cfg.max_sector_weight, cfg.beta_min, cfg.beta_max, budget), [
        Relaxation("budget", (1.0,), (budget,), reason)]


def _relax_beta(uni: _Universe, cfg: OptimizerConfig, limits: Limits) -> tuple[Limits, list[Relaxation]]:
    """Give way on the beta floor, then on the budget (the beta ceiling and the caps are hard)."""
    assert uni.betas is not None
    lo, hi = _beta_range(uni, cfg, limits)
    margin = _SLACK * max(1.0, abs(lo), abs(hi))
    out: list[Relaxation] = []
    new = limits
    if hi < limits.beta_min:
        floor = hi - margin
        out.append(Relaxation("beta_min", (limits.beta_min,), (floor,),
                              f"the highest beta reachable under the hard limits is {hi:.4f}"))
        new = Limits(new.max_weight, new.max_sector_weight, floor, new.beta_max, new.budget)
    elif lo > limits.beta_max and lo > 0:
        target = min(limits.beta_max, max(limits.beta_min, limits.beta_max - margin))
        budget = new.budget * target / lo
        out.append(Relaxation("budget", (new.budget,), (budget,),
                              f"the lowest reachable beta {lo:.4f} exceeds the hard ceiling {limits.beta_max}: "
                              f"{1 - budget:.2%} held in cash"))
        new = Limits(new.max_weight, new.max_sector_weight, new.beta_min, new.beta_max, budget)
    else:  # the band meets the reachable range but the solve failed (numerically tight): lower the floor
        floor = min(limits.beta_min, hi - margin)
        if floor != limits.beta_min:
            out.append(Relaxation("beta_band", (limits.beta_min, limits.beta_max), (floor, limits.beta_max),
                                  f"achievable beta range under the hard limits is [{lo:.4f}, {hi:.4f}]"))
            new = Limits(new.max_weight, new.max_sector_weight, floor, new.beta_max, new.budget)
    return new, out


def _beta_range(uni: _Universe, cfg: OptimizerConfig, limits: Limits) -> tuple[float, float]:
    """Lowest and highest beta under the hard limits and the budget: two LPs (SciPy's HiGHS, silent)."""
    from scipy.optimize import linprog

    assert uni.betas is not None
    n, smat = uni.mu.shape[0], uni.sector_matrix
    k = smat.shape[0]
    if cfg.long_only:
        a_ub = smat if k else None
        b_ub = np.full(k, limits.max_sector_weight) if k else None
        a_eq, bounds = np.ones((1, n)), [(0.0, limits.max_weight)] * n
        cost = uni.betas
    else:  # variables (w, g): |w| <= g, sum g <= gross
        eye = np.eye(n)
        rows = [np.hstack([eye, -eye]), np.hstack([-eye, -eye]), np.r_[np.zeros(n), np.ones(n)][None, :]]
        rhs = [np.zeros(n), np.zeros(n), [cfg.max_gross_leverage]]
        if k:
            rows += [np.hstack([smat, np.zeros((k, n))]), np.hstack([-smat, np.zeros((k, n))])]
            rhs += [np.full(k, limits.max_sector_weight)] * 2
        a_ub, b_ub = np.vstack(rows), np.concatenate([np.asarray(r, dtype=np.float64) for r in rhs])
        a_eq = np.r_[np.ones(n), np.zeros(n)][None, :]
        bounds = [(-limits.max_weight, limits.max_weight)] * n + [(0.0, np.inf)] * n
        cost = np.r_[uni.betas, np.zeros(n)]
    out = []
    for sign in (1.0, -1.0):
        res = linprog(sign * cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[limits.budget], bounds=bounds,
                      method="highs")
        if res.status != 0:
            raise OptimizationError(f"beta range LP failed ({res.message}) with limits {limits}")
        out.append(sign * float(res.fun))
    return out[0], out[1]


def _base_constraints(w: Any, smat: Float64Array, cfg: OptimizerConfig, limits: Limits) -> list[Any]:
    cons: list[Any] = [cp.sum(w) == limits.budget, w <= limits.max_weight]
    cons += [w >= 0] if cfg.long_only else [w >= -limits.max_weight, cp.norm1(w) <= cfg.max_gross_leverage]
    if smat.shape[0]:
        cons.append(smat @ w <= limits.max_sector_weight)
        if not cfg.long_only:
            cons.append(smat @ w >= -limits.max_sector_weight)
    return cons


class _Problem:
    """A compiled DPP problem for one shape; parameters are refilled per call."""

    def __init__(self, n: int, k: int, long_only: bool, use_beta: bool, n_factors: int) -> None:
        self.lock = threading.Lock()
        self.w, t = cp.Variable(n), cp.Variable(n, nonneg=True)
        self.mu, self.prev = cp.Parameter(n), cp.Parameter(n)
        self.U = cp.Parameter((n_factors, n)) if n_factors else cp.Parameter((n, n))
        self.spec = cp.Parameter(n, nonneg=True)
        self.cost = cp.Parameter(n, nonneg=True)
        self.cap, self.sec, self.gross, self.budget = (cp.Parameter(nonneg=True) for _ in range(4))
        self.S, self.beta = cp.Parameter((max(k, 1), n)), cp.Parameter(n)
        self.bmin, self.bmax = cp.Parameter(), cp.Parameter()
        w = self.w
        cons = [cp.sum(w) == self.budget, w <= self.cap, t >= w - self.prev, t >= self.prev - w]
        cons += [w >= 0] if long_only else [w >= -self.cap, cp.norm1(w) <= self.gross]
        if k:
            cons += [self.S @ w <= self.sec] + ([] if long_only else [self.S @ w >= -self.sec])
        if use_beta:
            cons += [self.beta @ w >= self.bmin, self.beta @ w <= self.bmax]
        risk = cp.sum_squares(self.U @ w)
        if n_factors:
            risk = risk + cp.sum_squares(cp.multiply(self.spec, w))
        objective = cp.Maximize(self.mu @ w - risk - self.cost @ t)
        self.problem = cp.Problem(objective, cons)
        self.risk = RiskFactorCache()
        self.risk_filled: tuple[Float64Array, Float64Array] | None = None  # the factors the parameters hold


@lru_cache(maxsize=16)
def _problem(n: int, k: int, long_only: bool, use_beta: bool, n_factors: int) -> _Problem:
    return _Problem(n, k, long_only, use_beta, n_factors)


def _solve(uni: _Universe, cfg: OptimizerConfig, limits: Limits, tax: TaxTerm | None = None) -> Float64Array | None:
    if tax is not None:
        return _solve_tax_aware(uni, cfg, limits, tax)
    if cfg.solver.upper() == "CLARABEL":
        return _solve_clarabel(uni, cfg, limits)
    return _solve_cvxpy(uni, cfg, limits)


def _solve_clarabel(uni: _Universe, cfg: OptimizerConfig, limits: Limits) -> Float64Array | None:
    n, k = uni.mu.shape[0], uni.sector_matrix.shape[0]
    n_factors = _n_factors(cfg, n)
    shape = QPShape(n=n, k=k, f=n_factors or n, long_only=cfg.long_only, use_beta=uni.betas is not None,
                    triangular=n_factors == 0)
    qp = clarabel_qp(shape)
    mu_eff, quad = _objective_terms(uni, cfg)
    with qp.lock:
        U, d = qp.risk.get(uni.cov, quad, n_factors)
        values = QPValues(
            mu=mu_eff, cost=np.full(n, cfg.transaction_cost_bps / 1e4 + cfg.turnover_penalty), prev=uni.prev,
            U=U, specific=d, sector_matrix=uni.sector_matrix, betas=uni.betas, cap=limits.max_weight,
            sector_cap=limits.max_sector_weight, beta_min=limits.beta_min, beta_max=limits.beta_max,
            gross=cfg.max_gross_leverage, budget=limits.budget,
        )
        w = qp.solve(values, _solver_options(cfg))
    return None if w is None else _clean(w, cfg.long_only, limits, uni.sector_matrix)


def _solve_cvxpy(uni: _Universe, cfg: OptimizerConfig, limits: Limits) -> Float64Array | None:
    n, k = uni.mu.shape[0], uni.sector_matrix.shape[0]
    n_factors = _n_factors(cfg, n)
    prob = _problem(n, k, cfg.long_only, uni.betas is not None, n_factors)
    mu_eff, quad = _objective_terms(uni, cfg)
    with prob.lock:
        _fill(prob, uni, cfg, limits, mu_eff)
        _fill_risk(prob, uni.cov, quad, n_factors)
        try:
            prob.problem.solve(solver=cfg.solver, **_solver_options(cfg))
        except cp.SolverError as exc:
            raise OptimizationError(f"solver {cfg.solver} failed: {exc}") from exc
        except TypeError as exc:  # cvxpy's solver interfaces report unknown settings this way
            raise OptimizationError(f"solver {cfg.solver} rejected solver_options: {exc}") from exc
        if prob.problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or prob.w.value is None:
            return None
        return _clean(np.asarray(prob.w.value, dtype=np.float64), cfg.long_only, limits, uni.sector_matrix)


def _solve_tax_aware(uni: _Universe, cfg: OptimizerConfig, limits: Limits, tax: TaxTerm) -> Float64Array | None:
    """The problem of the module docstring with the tax of selling subtracted (built per call)."""
    n = uni.mu.shape[0]
    mu_eff, quad = _objective_terms(uni, cfg)
    w = cp.Variable(n)
    cons = _base_constraints(w, uni.sector_matrix, cfg, limits)
    if uni.betas is not None:
        cons += [uni.betas @ w >= limits.beta_min, uni.betas @ w <= limits.beta_max]
    cost = np.full(n, cfg.transaction_cost_bps / 1e4 + cfg.turnover_penalty)
    objective = (mu_eff @ w - quad * cp.quad_form(w, cp.psd_wrap(uni.cov)) - cost @ cp.abs(w - uni.prev)
                 - tax_cost_expression(w, uni.prev, tax.schedules, tax.equity))
    problem = cp.Problem(cp.Maximize(objective), cons)
    try:
        with warnings.catch_warnings():  # an inaccurate solution is accepted below, as in the other paths
            warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
            problem.solve(solver=cfg.solver, **_solver_options(cfg))
    except cp.SolverError as exc:
        raise OptimizationError(f"solver {cfg.solver} failed: {exc}") from exc
    except TypeError as exc:
        raise OptimizationError(f"solver {cfg.solver} rejected solver_options: {exc}") from exc
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or w.value is None:
        return None
    return _clean(np.asarray(w.value, dtype=np.float64), cfg.long_only, limits, uni.sector_matrix)


def _objective_terms(uni: _Universe, cfg: OptimizerConfig) -> tuple[Float64Array, float]:
    a = cfg.risk_aversion / 2.0
    b = cfg.risk_parity_blend
    if b == 0.0:
        return uni.mu, a
    g = a * b / (1.0 - b)
    w_rp = risk_parity_weights(uni.cov)
    return uni.mu + 2.0 * g * (uni.cov @ w_rp), a + g


def _n_factors(cfg: OptimizerConfig, n: int) -> int:
    use = cfg.risk_model == "factor" or (cfg.risk_model == "auto" and n > cfg.factor_threshold)
    return min(cfg.n_factors, n) if use else 0


def _solver_options(cfg: OptimizerConfig) -> dict[str, Any]:
    if cfg.solver_options is not None:
        return dict(cfg.solver_options)
    return dict(CLARABEL_DEFAULTS) if cfg.solver.upper() == "CLARABEL" else {}


def _fill_risk(prob: _Problem, cov: Float64Array, quad: float, n_factors: int) -> None:
    """Set the risk parameters (refilled only when the factors changed)."""
    U, d = prob.risk.get(cov, quad, n_factors)
    if prob.risk_filled is not None and prob.risk_filled[0] is U:
        return
    prob.U.value, prob.spec.value = U, np.sqrt(d)
    prob.risk_filled = (U, d)


def _fill(prob: _Problem, uni: _Universe, cfg: OptimizerConfig, limits: Limits, mu_eff: Float64Array) -> None:
    n = uni.mu.shape[0]
    prob.mu.value = mu_eff
    prob.prev.value = uni.prev
    prob.cost.value = np.full(n, cfg.transaction_cost_bps / 1e4 + cfg.turnover_penalty)
    prob.cap.value, prob.sec.value = limits.max_weight, limits.max_sector_weight
    prob.gross.value = cfg.max_gross_leverage
    prob.budget.value = limits.budget
    prob.S.value = uni.sector_matrix if uni.sector_matrix.shape[0] else np.zeros((1, n))
    prob.beta.value = np.zeros(n) if uni.betas is None else uni.betas
    prob.bmin.value, prob.bmax.value = limits.beta_min, limits.beta_max


def _clean(w: Float64Array, long_only: bool, limits: Limits, smat: Float64Array) -> Float64Array:
    """Zero the solver's dust, scale down to the budget (never up), and pull any stock or sector the solver's
    tolerance left above its cap back onto it: no output exceeds a hard limit."""
    w = np.where(np.abs(w) < 1e-10, 0.0, w)
    if long_only:
        w = np.maximum(w, 0.0)
    total = float(w.sum())
    if total > limits.budget:
        w = w * (limits.budget / total)
    w = np.clip(w, -limits.max_weight, limits.max_weight)
    if smat.shape[0]:
        sums = np.abs(smat @ w)
        over = sums > limits.max_sector_weight
        if over.any():
            shrink = np.where(over, limits.max_sector_weight / np.where(over, sums, 1.0), 1.0)
            w = w * (shrink @ smat)
    return np.asarray(w, dtype=np.float64)


def _result(w: Float64Array, uni: _Universe, limits: Limits, relaxed: tuple[Relaxation, ...]) -> OptimizationResult:
    beta = float(uni.betas @ w) if uni.betas is not None else float("nan")
    return OptimizationResult(
        weights=w,
        expected_return=float(uni.mu @ w),
        volatility=float(np.sqrt(max(float(w @ uni.cov @ w), 0.0))),
        beta=beta,
        turnover=float(0.5 * np.abs(w - uni.prev).sum()),
        limits=limits,
        relaxations=relaxed,
    )
