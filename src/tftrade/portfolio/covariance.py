r"""Covariance estimation: Ledoit–Wolf shrinkage.

Ledoit & Wolf (2004) shrink the sample covariance :math:`S` towards a scaled
identity :math:`\mu I` (:math:`\mu = \mathrm{tr}(S)/n`) with the intensity
:math:`\rho^*` that minimises the expected Frobenius loss:

.. math:: \hat\Sigma = (1 - \rho^*)\, S + \rho^* \mu I

The estimate is computed directly (the same formulas as scikit-learn's ``LedoitWolf``, which
also builds an unused precision matrix by a full eigendecomposition): with :math:`X` the
centred returns (:math:`T \times n`), :math:`S = X^\top X / T`,
:math:`\delta = \|S - \mu I\|_F^2 / n` and
:math:`\beta = \bigl(\sum_t \|x_t\|^4 / T - \|S\|_F^2\bigr) / (nT)`
(:math:`\sum_{ij}\sum_t x_{ti}^2 x_{tj}^2 = \sum_t \|x_t\|^4`, so no :math:`n \times n`
product of squares is formed), :math:`\rho^* = \min(\beta, \delta) / \delta`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from tftrade.core.types import Float64Array
from tftrade.portfolio.errors import PortfolioError


@dataclass(frozen=True, slots=True)
class ShrunkCovariance:
    """A shrunk covariance (scaled by ``periods_per_year``) and the intensity used."""

    cov: Float64Array
    shrinkage: float


def ledoit_wolf(returns: npt.ArrayLike, periods_per_year: float = 252.0) -> ShrunkCovariance:
    """Return the Ledoit–Wolf covariance of per-period ``returns`` (rows = periods).

    The estimate is multiplied by ``periods_per_year`` (pass 1 to keep per-period units).

    Raises
    ------
    PortfolioError
        If ``returns`` is not 2-D with at least two rows, or has non-finite values.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> est = ledoit_wolf(rng.normal(0, 0.01, size=(250, 4)))
    >>> est.cov.shape, 0.0 <= est.shrinkage <= 1.0
    ((4, 4), True)
    """
    x = np.asarray(returns, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise PortfolioError(f"returns must be 2-D with at least 2 rows, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise PortfolioError("returns contain non-finite values; drop or fill them first")
    cov, shrinkage = _ledoit_wolf(x)
    cov *= periods_per_year
    return ShrunkCovariance(cov, shrinkage)


def _ledoit_wolf(x: Float64Array) -> tuple[Float64Array, float]:
    """Return the shrunk per-period covariance of the rows of ``x`` and the intensity (module docstring)."""
    t, n = x.shape
    xc = x - x.mean(axis=0)
    s = xc.T @ xc  # BLAS syrk: symmetric by construction
    s /= t
    diag = np.diagonal(s)
    mu = float(diag.sum()) / n
    s_fro2 = float(np.einsum("ij,ij->", s, s))
    row_sq = np.einsum("ij,ij->i", xc, xc)
    beta = (float(row_sq @ row_sq) / t - s_fro2) / (n * t)
    delta = (s_fro2 - 2.0 * mu * float(diag.sum()) + n * mu * mu) / n
    beta = min(beta, delta)
    rho = 0.0 if beta == 0.0 else beta / delta
    s *= 1.0 - rho
    s[np.diag_indices(n)] += rho * mu
    return s, float(rho)


@dataclass(frozen=True, slots=True)
class FactorModel:
    r"""A covariance as :math:`\Sigma \approx B B^\top + \mathrm{diag}(d)`.

    ``loadings`` :math:`B` has shape ``(n, k)``; ``specific`` :math:`d` has shape ``(n,)``.
    """

    loadings: Float64Array
    specific: Float64Array


def factor_model(cov: npt.ArrayLike, n_factors: int = 20, seed: int = 0) -> FactorModel:
    r"""Return a statistical factor model of ``cov`` keeping every variance exact.

    The top ``n_factors`` eigenpairs :math:`(\lambda_j, v_j)` come from randomised subspace
    iteration (Halko et al. 2011); :math:`B = V\Lambda^{1/2}` and
    :math:`d_i = \Sigma_{ii} - \sum_j B_{ij}^2` (floored at a tiny positive value), so
    :math:`\mathrm{diag}(BB^\top + \mathrm{diag}(d)) = \mathrm{diag}(\Sigma)`.

    Examples
    --------
    >>> fm = factor_model(np.diag([4.0, 1.0, 0.25]), n_factors=1)
    >>> np.round(fm.loadings[:, 0] ** 2 + fm.specific, 6).tolist()
    [4.0, 1.0, 0.25]
    """
    sigma = np.asarray(cov, dtype=np.float64)
    n = sigma.shape[0]
    k = max(1, min(n_factors, n))
    basis, _ = np.linalg.qr(sigma @ _probe(n, min(n, k + 10), seed))
    for _ in range(3):
        basis, _ = np.linalg.qr(sigma @ basis)
    vals, vecs = np.linalg.eigh(basis.T @ sigma @ basis)
    top = np.argsort(vals)[::-1][:k]
    loadings = (basis @ vecs[:, top]) * np.sqrt(np.maximum(vals[top], 0.0))
    floor = 1e-10 * float(np.mean(np.diag(sigma)))
    specific = np.maximum(np.diag(sigma) - (loadings**2).sum(axis=1), floor)
    return FactorModel(np.asarray(loadings, dtype=np.float64), np.asarray(specific, dtype=np.float64))


@lru_cache(maxsize=8)
def _probe(n: int, m: int, seed: int) -> Float64Array:
    """The random start of the subspace iteration: a function of its arguments only, so drawn once (read-only)."""
    out = np.random.default_rng(seed).standard_normal((n, m))
    out.flags.writeable = False
    return out
