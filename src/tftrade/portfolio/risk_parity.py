r"""Equal-risk-contribution (risk-parity) weights.

Solves Spinu's (2013) convex problem

.. math:: \min_{y > 0}\ \tfrac12 y^\top\Sigma y - \sum_i b_i \log y_i, \qquad w = y / \textstyle\sum_i y_i

whose optimum has risk contributions :math:`w_i(\Sigma w)_i` proportional to the budgets :math:`b_i`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from tftrade.core.types import Float64Array
from tftrade.portfolio._validate import as_covariance, as_vector
from tftrade.portfolio.errors import PortfolioError


def risk_parity_weights(cov: npt.ArrayLike, budgets: npt.ArrayLike | None = None) -> Float64Array:
    """Return long-only weights whose risk contributions match ``budgets`` (equal by default).

    Examples
    --------
    >>> risk_parity_weights([[0.04, 0.0], [0.0, 0.01]]).round(4).tolist()
    [0.3333, 0.6667]
    """
    sigma = as_covariance(cov)
    n = sigma.shape[0]
    b = np.full(n, 1.0 / n) if budgets is None else as_vector(budgets, "budgets", n)
    b = b / b.sum()
    scale = float(np.sqrt(np.mean(np.diag(sigma))))
    s = sigma / scale**2
    y0 = 1.0 / np.sqrt(np.diag(s))

    def fun(y: Float64Array) -> tuple[float, Float64Array]:
        sy = s @ y
        return float(0.5 * y @ sy - b @ np.log(y)), sy - b / y

    res = minimize(fun, y0, jac=True, method="L-BFGS-B", bounds=[(1e-12, None)] * n)
    if not np.all(np.isfinite(res.x)):
        raise PortfolioError(f"risk parity did not converge: {res.message}")
    return np.asarray(res.x / res.x.sum(), dtype=np.float64)
