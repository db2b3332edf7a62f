r"""Covariance estimation: Ledoit–Wolf shrinkage.

Ledoit & Wolf (2004) shrink the sample covariance :math:`S` towards a scaled
identity :math:`\mu I` (:math:`\mu = \mathrm{tr}(S)/n`) with the intensity
:math:`\rho^*` that minimises the expected Frobenius loss:

.. math:: \hat\Sigma = (1 - \rho^*)\, S + \rho^* \mu I
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.covariance import LedoitWolf

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
    model = LedoitWolf(assume_centered=False).fit(x)
    cov = np.asarray(model.covariance_, dtype=np.float64) * periods_per_year
    return ShrunkCovariance(0.5 * (cov + cov.T), float(model.shrinkage_))


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
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(sigma @ rng.standard_normal((n, min(n, k + 10))))
    for _ in range(3):
        basis, _ = np.linalg.qr(sigma @ basis)
    vals, vecs = np.linalg.eigh(basis.T @ sigma @ basis)
    top = np.argsort(vals)[::-1][:k]
    loadings = (basis @ vecs[:, top]) * np.sqrt(np.maximum(vals[top], 0.0))
    floor = 1e-10 * float(np.mean(np.diag(sigma)))
    specific = np.maximum(np.diag(sigma) - (loadings**2).sum(axis=1), floor)
    return FactorModel(np.asarray(loadings, dtype=np.float64), np.asarray(specific, dtype=np.float64))
