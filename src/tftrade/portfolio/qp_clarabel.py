r"""The optimiser's problem as a quadratic program handed to Clarabel directly (no cvxpy).

With a risk factor :math:`U` (``(f, n)``; :math:`U^\top U` is the scaled covariance or its
factor part) and specific variances :math:`d` (zero for the full model), the variables
:math:`x = (w, t, y[, g])` solve

.. math::

    \min_x\ -\mu^\top w + c^\top t + \|y\|^2 + \textstyle\sum_i d_i w_i^2
    \quad\text{s.t.}\quad \mathbf 1^\top w = b,\ Uw - y = 0,\
    -\ell \le w \le \bar w,\ |w - w_0| \le t,\ S w \le \bar s\ (-S w \le \bar s),\
    \beta_{min} \le \beta^\top w \le \beta_{max}\ [,\ |w| \le g,\ \mathbf 1^\top g \le G]

where :math:`\ell = 0` long-only and :math:`\bar w` long–short (the bracketed parts are
long–short only). The sparsity pattern depends only on the shape, so it is built once per
shape and each call fills in the numeric values and builds a fresh Clarabel solver: no
canonicalisation, and a plain QP instead of cvxpy's second-order cones. The solver is not
reused through Clarabel's data update because that keeps the equilibration of the first
problem it was built for, which made a solve depend (by ~1e-6) on the calls before it;
a fresh solver makes every result a function of its inputs only.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import clarabel
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tftrade.core.types import Float64Array
from tftrade.portfolio.errors import OptimizationError
from tftrade.portfolio.risk_factors import RiskFactorCache

_ACCEPTED = {"Solved", "AlmostSolved"}


@dataclass(frozen=True, slots=True)
class QPShape:
    """What fixes the sparsity pattern: sizes, side, beta band, and a triangular (Cholesky) risk factor."""

    n: int
    k: int
    f: int
    long_only: bool
    use_beta: bool
    triangular: bool


@dataclass(frozen=True, slots=True)
class QPValues:
    """The numbers of one solve (``U`` is ``(f, n)``, upper triangular when the shape says so)."""

    mu: Float64Array
    cost: Float64Array
    prev: Float64Array
    U: Float64Array
    specific: Float64Array
    sector_matrix: Float64Array
    betas: Float64Array | None
    cap: float
    sector_cap: float
    beta_min: float
    beta_max: float
    gross: float
    budget: float = 1.0


class _Blocks:
    """Collects COO triplets; values are filled per call in the same order."""

    def __init__(self) -> None:
        self.rows: list[npt.NDArray[np.int64]] = []
        self.cols: list[npt.NDArray[np.int64]] = []

    def add(self, rows: npt.ArrayLike, cols: npt.ArrayLike) -> None:
        self.rows.append(np.asarray(rows, dtype=np.int64).reshape(-1))
        self.cols.append(np.asarray(cols, dtype=np.int64).reshape(-1))


class ClarabelQP:
    """A Clarabel solver for one :class:`QPShape`, re-filled and re-solved per call (thread-safe)."""

    def __init__(self, shape: QPShape) -> None:
        self.shape = shape
        self.lock = threading.Lock()
        self.risk = RiskFactorCache()
        n, f = shape.n, shape.f
        self.n_vars = 3 * n + f if not shape.long_only else 2 * n + f
        self._a_order, self._a_pattern, self.n_eq, self.n_rows = self._pattern()
        p_idx = np.r_[np.arange(n), 2 * n + np.arange(f)]
        self._p = sp.csc_array((np.ones(p_idx.shape[0]), (p_idx, p_idx)), shape=(self.n_vars, self.n_vars))

    def _pattern(self) -> tuple[npt.NDArray[np.int64], sp.csc_array, int, int]:
        s, b = self.shape, _Blocks()
        n, f, k = s.n, s.f, s.k
        w, t, y, g = np.arange(n), n + np.arange(n), 2 * n + np.arange(f), 2 * n + f + np.arange(n)
        row = 0
        b.add(np.zeros(n), w)  # sum w = 1
        row += 1
        if s.triangular:
            ur, uc = np.triu_indices(n)
        else:
            ur, uc = np.repeat(np.arange(f), n), np.tile(w, f)
        b.add(row + ur, uc)  # U w
        b.add(row + np.arange(f), y)  # - y
        row += f
        n_eq = row
        b.add(row + w, w)  # w <= cap
        b.add(row + n + w, w)  # -w <= 0 or cap
        row += 2 * n
        b.add(np.r_[row + w, row + w], np.r_[w, t])  # w - t <= prev
        b.add(np.r_[row + n + w, row + n + w], np.r_[w, t])  # -w - t <= -prev
        row += 2 * n
        sides = 1 if s.long_only else 2
        for _ in range(sides):
            if k:
                b.add(row + np.repeat(np.arange(k), n), np.tile(w, k))  # (+/-) S w <= sec
                row += k
        if s.use_beta:
            b.add(row + np.repeat([0, 1], n), np.tile(w, 2))  # -beta w <= -bmin, beta w <= bmax
            row += 2
        if not s.long_only:
            b.add(np.r_[row + w, row + w], np.r_[w, g])  # w - g <= 0
            b.add(np.r_[row + n + w, row + n + w], np.r_[w, g])  # -w - g <= 0
            b.add(np.full(n, row + 2 * n), g)  # sum g <= gross
            row += 2 * n + 1
        rows, cols = np.concatenate(b.rows), np.concatenate(b.cols)
        slots = np.arange(rows.shape[0], dtype=np.float64) + 1.0  # +1: no explicit zero to be dropped
        pattern = sp.csc_array((slots, (rows, cols)), shape=(row, self.n_vars))
        pattern.sort_indices()
        order = np.asarray(pattern.data, dtype=np.int64) - 1
        return order, pattern, n_eq, row

    def _a_values(self, v: QPValues) -> Float64Array:
        s = self.shape
        n = s.n
        ones = np.ones(n)
        U = v.U[np.triu_indices(n)] if s.triangular else v.U.reshape(-1)
        parts = [ones, U, -np.ones(s.f), ones, -ones, ones, -ones, -ones, -ones]
        smat = v.sector_matrix.reshape(-1)
        parts += [smat] if s.k else []
        parts += [-smat] if s.k and not s.long_only else []
        if s.use_beta:
            assert v.betas is not None
            parts += [-v.betas, v.betas]
        if not s.long_only:
            parts += [ones, -ones, -ones, -ones, np.ones(n)]
        return np.concatenate(parts)

    def _b(self, v: QPValues) -> Float64Array:
        s = self.shape
        n = s.n
        lower = 0.0 if s.long_only else v.cap
        parts = [np.r_[v.budget, np.zeros(s.f)], np.full(n, v.cap), np.full(n, lower), v.prev, -v.prev]
        parts += [np.full(s.k * (1 if s.long_only else 2), v.sector_cap)]
        parts += [np.array([-v.beta_min, v.beta_max])] if s.use_beta else []
        parts += [np.zeros(2 * n), np.array([v.gross])] if not s.long_only else []
        return np.concatenate(parts)

    def solve(self, v: QPValues, options: dict[str, Any]) -> Float64Array | None:
        """Return the optimal weights, or ``None`` when Clarabel reports the problem infeasible or unsolved."""
        s = self.shape
        n = s.n
        a = self._a_pattern.copy()
        a.data = self._a_values(v)[self._a_order]
        p = self._p.copy()
        p.data = np.r_[2.0 * v.specific, np.full(s.f, 2.0)]
        q = np.zeros(self.n_vars)
        q[:n], q[n:2 * n] = -v.mu, v.cost
        b = self._b(v)
        # A fresh solver per call (~3 ms at 500 assets): Clarabel's data update keeps the equilibration
        # scaling computed for the first problem it saw, so updated solves differed by ~1e-6 with the history.
        cones = [clarabel.ZeroConeT(self.n_eq), clarabel.NonnegativeConeT(self.n_rows - self.n_eq)]
        sol = clarabel.DefaultSolver(p, q, a, b, cones, _settings(options)).solve()
        if str(sol.status) not in _ACCEPTED:
            return None
        return np.asarray(sol.x[:n], dtype=np.float64)


def _settings(options: dict[str, Any]) -> Any:
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    for name, value in options.items():
        try:
            setattr(settings, name, value)
        except (AttributeError, TypeError) as exc:
            raise OptimizationError(f"solver CLARABEL rejected solver_options: {name}={value!r} ({exc})") from exc
    return settings


@lru_cache(maxsize=16)
def clarabel_qp(shape: QPShape) -> ClarabelQP:
    """Return the cached solver for ``shape`` (one per shape and process)."""
    return ClarabelQP(shape)
