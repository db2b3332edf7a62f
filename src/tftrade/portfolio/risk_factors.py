r"""The risk term of the optimiser as a factor :math:`U` and specific variances :math:`d`.

:math:`q\,w^\top\Sigma w = \|U w\|^2 + \sum_i d_i w_i^2` with, for the full model,
:math:`U = \sqrt q\,L^\top` (Cholesky, :math:`d = 0`) and, for the factor model
:math:`\Sigma \approx BB^\top + \mathrm{diag}(s)`, :math:`U = \sqrt q\,B^\top` and
:math:`d = q\,s`.
"""

from __future__ import annotations

import numpy as np

from tftrade.core.types import Float64Array
from tftrade.portfolio.covariance import factor_model
from tftrade.portfolio.errors import PortfolioError


def risk_factors(cov: Float64Array, quad: float, n_factors: int) -> tuple[Float64Array, Float64Array]:
    """Return ``(U, d)``: the factor model when ``n_factors > 0``, else the upper Cholesky factor.

    Examples
    --------
    >>> U, d = risk_factors(np.diag([4.0, 1.0]), 0.5, 0)
    >>> (U.T @ U).round(6).tolist(), d.tolist()
    ([[2.0, 0.0], [0.0, 0.5]], [0.0, 0.0])
    """
    if n_factors:
        fm = factor_model(cov, n_factors)
        return np.sqrt(quad) * fm.loadings.T, quad * fm.specific
    return np.sqrt(quad) * cholesky_upper(cov), np.zeros(cov.shape[0])


def cholesky_upper(cov: Float64Array) -> Float64Array:
    """Return upper-triangular :math:`U` with :math:`U^\\top U = \\Sigma` (tiny jitter if only semi-definite).

    Raises
    ------
    PortfolioError
        If ``cov`` is not positive semi-definite.
    """
    jitter = 1e-12 * float(np.trace(cov)) / cov.shape[0]
    for _ in range(6):
        try:
            return np.asarray(np.linalg.cholesky(cov + jitter * np.eye(cov.shape[0])).T, dtype=np.float64)
        except np.linalg.LinAlgError:
            jitter *= 100.0
    raise PortfolioError("cov is not positive semi-definite")


class RiskFactorCache:
    """Remembers the last ``(cov, quad, n_factors)`` and its factors, so an unchanged covariance is not refactored.

    Not thread-safe by itself: the owner (a cached problem) holds its lock while calling :meth:`get`.
    """

    def __init__(self) -> None:
        self._key: tuple[Float64Array, float, int] | None = None
        self._value: tuple[Float64Array, Float64Array] | None = None

    def get(self, cov: Float64Array, quad: float, n_factors: int) -> tuple[Float64Array, Float64Array]:
        """Return :func:`risk_factors` of the arguments, reusing the last result when they are equal."""
        key = self._key
        if key is not None and self._value is not None and key[1:] == (quad, n_factors) and np.array_equal(key[0], cov):
            return self._value
        self._key, self._value = None, risk_factors(cov, quad, n_factors)
        self._key = (cov.copy(), quad, n_factors)
        return self._value
