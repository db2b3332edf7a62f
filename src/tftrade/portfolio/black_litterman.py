r"""Black–Litterman: market-implied prior, view uncertainty and the posterior.

All returns and covariances must be in the same units (e.g. annualised excess
returns). The posterior follows He & Litterman (1999):

.. math::

    \mu_{BL} = \pi + \tau\Sigma P^\top (P\tau\Sigma P^\top + \Omega)^{-1}(Q - P\pi)

    \Sigma_{BL} = \Sigma + \tau\Sigma - \tau\Sigma P^\top (P\tau\Sigma P^\top + \Omega)^{-1} P\tau\Sigma

which equals the textbook form
:math:`[(\tau\Sigma)^{-1} + P^\top\Omega^{-1}P]^{-1}[(\tau\Sigma)^{-1}\pi + P^\top\Omega^{-1}Q]`
but never inverts :math:`\Omega`, so fully confident views (:math:`\omega_k = 0`) work.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.linalg import LinAlgError, cho_factor, cho_solve
from scipy.sparse import csr_array

from tftrade.core.types import Float64Array
from tftrade.portfolio._validate import as_covariance, as_matrix, as_vector
from tftrade.portfolio.errors import PortfolioError


class BLPosterior:
    """Posterior of the Black–Litterman model.

    Attributes
    ----------
    mean : posterior expected returns :math:`\\mu_{BL}`, shape ``(n,)``.
    cov : posterior covariance of returns :math:`\\Sigma_{BL}`, shape ``(n, n)``; computed on
        first access (an :math:`O(n^2 k)` product that optimisers using the prior covariance never need).
    omega : the view-uncertainty matrix that was used, shape ``(k, k)``; built on first access
        when Ω was given as a diagonal.
    """

    __slots__ = ("_cov", "_omega", "_parts", "mean")

    def __init__(
        self, mean: Float64Array, omega: Float64Array, parts: tuple[Float64Array, float, Float64Array, Float64Array]
    ) -> None:
        self.mean, self._omega, self._parts = mean, omega, parts
        self._cov: Float64Array | None = None

    @property
    def omega(self) -> Float64Array:
        """Return Ω as a ``(k, k)`` matrix (infinite diagonal entries mark dropped views)."""
        if self._omega.ndim == 1:
            self._omega = np.diag(self._omega)
        return self._omega

    @property
    def cov(self) -> Float64Array:
        """Return :math:`\\Sigma_{BL}` (formula in the module docstring), computed once."""
        if self._cov is None:
            sigma, tau, tsp, factor = self._parts
            post = (1.0 + tau) * sigma
            if tsp.shape[1]:
                post = post - tsp @ cho_solve((factor, True), tsp.T)
            self._cov = np.asarray(0.5 * (post + post.T), dtype=np.float64)
        return self._cov


def market_implied_prior(
    cov: npt.ArrayLike, delta: float = 2.5, market_weights: npt.ArrayLike | None = None
) -> Float64Array:
    r"""Return the equilibrium excess returns :math:`\pi = \delta\Sigma w_{mkt}`.

    Parameters
    ----------
    cov : covariance :math:`\Sigma`, shape ``(n, n)``.
    delta : risk aversion :math:`\delta > 0`.
    market_weights : capitalisation weights (normalised to sum 1); equal weights when ``None``.

    Raises
    ------
    PortfolioError
        If ``delta`` is not positive or the weights do not have a positive sum.

    Examples
    --------
    >>> market_implied_prior([[0.04, 0.0], [0.0, 0.09]], delta=2.0).round(4).tolist()
    [0.04, 0.09]
    """
    sigma = as_covariance(cov)
    n = sigma.shape[0]
    if not delta > 0:
        raise PortfolioError(f"delta must be > 0, got {delta}")
    w = np.full(n, 1.0 / n) if market_weights is None else as_vector(market_weights, "market_weights", n)
    if not w.sum() > 0:
        raise PortfolioError("market_weights must have a positive sum")
    return np.asarray(delta * sigma @ (w / w.sum()), dtype=np.float64)


def market_implied_risk_aversion(market_returns: npt.ArrayLike, risk_free: float = 0.0) -> float:
    r"""Return :math:`\delta = (E[r_m] - r_f) / \sigma_m^2` from per-period market returns.

    The ratio is the same per period or annualised (both scale by the period count).

    Examples
    --------
    >>> round(market_implied_risk_aversion([0.01, -0.01, 0.02, 0.0]), 4)
    30.0
    """
    r = as_vector(market_returns, "market_returns")
    var = float(np.var(r, ddof=1))
    if not var > 0:
        raise PortfolioError("market_returns have zero variance")
    return float((r.mean() - risk_free) / var)


def default_omega(cov: npt.ArrayLike, P: npt.ArrayLike, tau: float = 0.05) -> Float64Array:
    r"""Return He–Litterman's :math:`\Omega = \mathrm{diag}(P\,\tau\Sigma\,P^\top)`."""
    sigma = as_covariance(cov)
    pick = as_matrix(P, "P", (None, sigma.shape[0]))
    return np.diag(np.diag(pick @ (tau * sigma) @ pick.T))


def idzorek_omega(cov: npt.ArrayLike, P: npt.ArrayLike, confidences: npt.ArrayLike, tau: float = 0.05) -> Float64Array:
    r"""Return a diagonal :math:`\Omega` from Idzorek (2005) view confidences in [0, 1].

    Uses the closed form of Walters (2011), exact for each view taken alone:

    .. math:: \omega_k = \frac{1 - c_k}{c_k}\, P_k\,\tau\Sigma\,P_k^\top

    so ``c = 1`` gives a certain view (:math:`\omega = 0`), ``c = 0.5`` reproduces
    He–Litterman's default, and ``c = 0`` gives :math:`\omega = \infty` (the view is ignored).

    Raises
    ------
    PortfolioError
        If a confidence lies outside [0, 1] or their count differs from the rows of ``P``.

    Examples
    --------
    >>> idzorek_omega([[0.04]], [[1.0]], [0.5], tau=0.05).tolist()
    [[0.002]]
    """
    base = np.diag(default_omega(cov, P, tau))
    conf = as_vector(confidences, "confidences", base.shape[0])
    if np.any((conf < 0) | (conf > 1)):
        raise PortfolioError(f"confidences must lie in [0, 1], got {conf.tolist()}")
    with np.errstate(divide="ignore"):
        alpha = np.where(conf > 0, (1.0 - conf) / np.where(conf > 0, conf, 1.0), np.inf)
    return np.diag(alpha * base)


def bl_posterior(
    cov: npt.ArrayLike,
    prior: npt.ArrayLike,
    P: npt.ArrayLike,
    Q: npt.ArrayLike,
    omega: npt.ArrayLike | None = None,
    tau: float = 0.05,
) -> BLPosterior:
    r"""Return the Black–Litterman posterior mean and covariance.

    .. math::

        \mu_{BL} = \pi + \tau\Sigma P^\top (P\tau\Sigma P^\top + \Omega)^{-1}(Q - P\pi)

        \Sigma_{BL} = \Sigma + \tau\Sigma - \tau\Sigma P^\top (P\tau\Sigma P^\top + \Omega)^{-1} P\tau\Sigma

    Parameters
    ----------
    cov : prior covariance of returns :math:`\Sigma`, shape ``(n, n)``.
    prior : prior (equilibrium) expected returns :math:`\pi`, shape ``(n,)``.
    P : pick matrix, shape ``(k, n)``; one row per view (absolute or relative).
    Q : view returns, shape ``(k,)``.
    omega : view uncertainty, ``(k, k)`` matrix or ``(k,)`` diagonal; default
        :math:`\mathrm{diag}(P\tau\Sigma P^\top)`. Infinite diagonal entries drop the view.
    tau : scale of the uncertainty of the prior, :math:`\tau > 0`.

    Raises
    ------
    PortfolioError
        On mismatched shapes, non-finite inputs or ``tau <= 0``.

    Examples
    --------
    One asset, prior 5 %, a view of 10 % held with the default Ω lands halfway:

    >>> post = bl_posterior([[0.04]], [0.05], [[1.0]], [0.10])
    >>> round(float(post.mean[0]), 4)
    0.075
    """
    sigma = as_covariance(cov)
    n = sigma.shape[0]
    pi = as_vector(prior, "prior", n)
    pick = as_matrix(P, "P", (None, n))
    views = as_vector(Q, "Q", pick.shape[0])
    if not tau > 0:
        raise PortfolioError(f"tau must be > 0, got {tau}")
    return _posterior(sigma, pi, pick, views, _omega_matrix(omega, sigma, pick, tau), tau)


def _omega_matrix(omega: npt.ArrayLike | None, sigma: Float64Array, pick: Float64Array, tau: float) -> Float64Array:
    """Return Ω as given: ``(k,)`` when diagonal (or defaulted), else ``(k, k)``."""
    k = pick.shape[0]
    if omega is None:
        spread = _right_pick(tau * sigma, pick, _one_hot(pick))
        return np.asarray(np.einsum("ij,ji->i", pick, spread), dtype=np.float64)
    om = np.asarray(omega, dtype=np.float64)
    if om.ndim == 2 and om.shape == (k, k) and np.count_nonzero(om) == np.count_nonzero(np.diag(om)):
        om = np.diag(om).copy()  # diagonal given as a matrix: keep the vector
    if om.shape not in ((k,), (k, k)):
        raise PortfolioError(f"omega has shape {om.shape}, expected {(k, k)} or {(k,)}")
    diag = om if om.ndim == 1 else np.diag(om)
    if np.any(np.isnan(om)) or np.any(diag < 0):
        raise PortfolioError("omega must have a non-negative diagonal and no NaN")
    return om


def _posterior(
    sigma: Float64Array, pi: Float64Array, pick: Float64Array, views: Float64Array, om: Float64Array, tau: float
) -> BLPosterior:
    diag = om if om.ndim == 1 else np.diag(om)
    keep = np.isfinite(diag)
    if not keep.all():
        pick, views = pick[keep], views[keep]
        om_kept = om[keep] if om.ndim == 1 else om[np.ix_(keep, keep)]
    else:
        om_kept = om
    hot = _one_hot(pick)
    tsp = _right_pick(sigma, pick, hot)
    tsp *= tau
    if pick.shape[0] == 0:
        return BLPosterior(pi.copy(), om, (sigma, tau, tsp, np.zeros((0, 0))))
    middle = _left_pick(pick, tsp, hot)
    if om_kept.ndim == 1:
        middle[np.diag_indices_from(middle)] += om_kept
    else:
        middle += om_kept
    try:
        factor, _ = cho_factor(middle, lower=True, overwrite_a=True, check_finite=False)
    except LinAlgError as exc:
        raise PortfolioError("P tau Sigma P' + Omega is singular: redundant views with zero uncertainty?") from exc
    mean = pi + tsp @ cho_solve((factor, True), views - pick @ pi, check_finite=False)
    return BLPosterior(mean, om, (sigma, tau, tsp, factor))


_Hot = tuple[npt.NDArray[np.intp], Float64Array]


def _one_hot(pick: Float64Array) -> _Hot | None:
    """Return (column, value) of each row when every row of ``pick`` has exactly one non-zero."""
    k = pick.shape[0]
    if np.count_nonzero(pick) != k:
        return None
    rows = np.arange(k)
    cols = np.argmax(pick != 0, axis=1) if k else np.zeros(0, dtype=np.intp)  # the first non-zero of each row
    vals = pick[rows, cols]
    if np.count_nonzero(vals) != k:  # a row of zeros: then another row holds two non-zeros
        return None
    return cols.astype(np.intp), vals


def _right_pick(a: Float64Array, pick: Float64Array, hot: _Hot | None = None) -> Float64Array:
    """Return ``a @ pick.T`` for symmetric ``a``; an O(k n) gather when every view is absolute (one-hot)."""
    if hot is not None:
        cols, vals = hot
        if cols.shape[0] == a.shape[0] and np.array_equal(cols, np.arange(cols.shape[0])):
            return np.asarray(a * vals, dtype=np.float64)  # P is a scaled identity: no gather
        return np.asarray(a[cols].T * vals, dtype=np.float64)  # rows of symmetric a: contiguous gather
    return np.asarray((csr_array(pick) @ a).T, dtype=np.float64)


def _left_pick(pick: Float64Array, b: Float64Array, hot: _Hot | None) -> Float64Array:
    """Return ``pick @ b`` for ``b`` of shape ``(n, k)``; a row gather for absolute views (``hot``)."""
    if hot is not None:
        cols, vals = hot
        rows = b if np.array_equal(cols, np.arange(b.shape[0])) else b[cols]
        return np.asarray(rows * vals[:, None], dtype=np.float64)
    return np.asarray(csr_array(pick) @ b, dtype=np.float64)
