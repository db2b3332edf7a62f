r"""Value at Risk and Conditional VaR (expected shortfall), reported as positive losses.

For confidence :math:`\alpha` (e.g. 0.95) and returns :math:`r`:

* historical: :math:`\mathrm{VaR} = -q_{1-\alpha}(r)`, :math:`\mathrm{CVaR} = -E[r \mid r \le -\mathrm{VaR}]`;
* parametric (normal): :math:`\mathrm{VaR} = -(\mu + \sigma z_{1-\alpha})`,
  :math:`\mathrm{CVaR} = -\mu + \sigma\,\varphi(z_{1-\alpha})/(1-\alpha)`;
* Monte Carlo: historical VaR/CVaR of simulated portfolio returns drawn from a
  multivariate normal or Student-t (scaled to the same covariance) with the given mean and covariance.

``q`` is the linearly interpolated empirical quantile (numpy's default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from tftrade.core.types import Float64Array
from tftrade.risk.errors import RiskError

VaRMethod = Literal["historical", "parametric", "monte_carlo"]


@dataclass(frozen=True, slots=True)
class VaRResult:
    """VaR and CVaR as positive fractions of portfolio value for one period."""

    var: float
    cvar: float
    alpha: float
    method: VaRMethod


def _returns(returns: npt.ArrayLike) -> Float64Array:
    r = np.asarray(returns, dtype=np.float64).reshape(-1)
    r = r[np.isfinite(r)]
    if r.shape[0] < 2:
        raise RiskError(f"need at least 2 finite returns, got {r.shape[0]}")
    return r


def _check_alpha(alpha: float) -> None:
    if not 0.5 <= alpha < 1.0:
        raise RiskError(f"alpha must lie in [0.5, 1), got {alpha}")


def historical_var(returns: npt.ArrayLike, alpha: float = 0.95) -> VaRResult:
    """Return historical VaR/CVaR of per-period ``returns`` (NaN ignored).

    Examples
    --------
    >>> res = historical_var(np.linspace(-0.05, 0.05, 101), alpha=0.95)
    >>> round(res.var, 4), round(res.cvar, 4)
    (0.045, 0.0475)
    """
    _check_alpha(alpha)
    r = _returns(returns)
    var = -float(np.quantile(r, 1.0 - alpha))
    return VaRResult(var, -float(r[r <= -var].mean()), alpha, "historical")


def parametric_var(returns: npt.ArrayLike, alpha: float = 0.95) -> VaRResult:
    """Return Gaussian VaR/CVaR using the sample mean and standard deviation (ddof=1).

    Examples
    --------
    >>> res = parametric_var([0.01, -0.01] * 50, alpha=0.95)
    >>> round(res.var, 5)
    0.01653
    """
    _check_alpha(alpha)
    r = _returns(returns)
    return _gaussian(float(r.mean()), float(r.std(ddof=1)), alpha)


def _gaussian(mu: float, sigma: float, alpha: float) -> VaRResult:
    z = float(norm.ppf(1.0 - alpha))
    cvar = -mu + sigma * float(norm.pdf(z)) / (1.0 - alpha)
    return VaRResult(-(mu + sigma * z), cvar, alpha, "parametric")


def monte_carlo_var(
    weights: npt.ArrayLike,
    mean: npt.ArrayLike,
    cov: npt.ArrayLike,
    alpha: float = 0.95,
    *,
    n_sims: int = 20_000,
    dist: Literal["normal", "t"] = "normal",
    dof: float = 5.0,
    seed: int = 0,
) -> VaRResult:
    """Return VaR/CVaR of ``weights`` by simulating asset returns with ``mean`` and ``cov``.

    With ``dist="t"`` the draws are multivariate Student-t with ``dof`` degrees of
    freedom, scaled so their covariance equals ``cov`` (requires ``dof > 2``).

    Examples
    --------
    >>> res = monte_carlo_var([1.0], [0.0], [[0.0001]], n_sims=200_000)
    >>> abs(res.var - 0.01645) < 2e-4
    True
    """
    _check_alpha(alpha)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    draws = _draws(np.asarray(mean, dtype=np.float64).reshape(-1), np.asarray(cov, dtype=np.float64),
                   n_sims, dist, dof, seed)
    res = historical_var(draws @ w, alpha)
    return VaRResult(res.var, res.cvar, alpha, "monte_carlo")


def _draws(mean: Float64Array, cov: Float64Array, n: int, dist: str, dof: float, seed: int) -> Float64Array:
    if cov.shape != (mean.shape[0], mean.shape[0]):
        raise RiskError(f"cov has shape {cov.shape}, expected {(mean.shape[0], mean.shape[0])}")
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal(np.zeros(mean.shape[0]), cov, size=n, method="eigh")
    if dist == "t":
        if dof <= 2:
            raise RiskError(f"dof must exceed 2 for a finite covariance, got {dof}")
        z = z * np.sqrt((dof - 2.0) / rng.chisquare(dof, size=(n, 1)))
    return np.asarray(mean + z, dtype=np.float64)


def portfolio_var(
    weights: npt.ArrayLike, asset_returns: npt.ArrayLike, alpha: float = 0.95, method: VaRMethod = "historical",
    *, n_sims: int = 20_000, seed: int = 0,
) -> VaRResult:
    """Return VaR/CVaR of ``weights`` given a ``(T, n)`` history of asset returns.

    Historical and parametric use the portfolio's realised series ``R w``; Monte Carlo
    simulates from the history's mean and covariance.

    Examples
    --------
    >>> hist = np.array([[0.01, -0.02], [-0.03, 0.01], [0.02, 0.0], [0.0, 0.01]])
    >>> round(portfolio_var([0.5, 0.5], hist, alpha=0.75).var, 4)
    0.0062
    """
    x = np.asarray(asset_returns, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if x.ndim != 2 or x.shape[1] != w.shape[0]:
        raise RiskError(f"asset_returns has shape {x.shape}, expected (T, {w.shape[0]})")
    x = x[np.all(np.isfinite(x), axis=1)]
    if method == "historical":
        return historical_var(x @ w, alpha)
    if method == "parametric":
        return parametric_var(x @ w, alpha)
    return monte_carlo_var(w, x.mean(axis=0), np.cov(x, rowvar=False).reshape(w.shape[0], w.shape[0]),
                           alpha, n_sims=n_sims, seed=seed)
