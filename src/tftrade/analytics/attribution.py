r"""Performance attribution: Brinson sector attribution and Treynor–Mazuy market timing.

Brinson for one period, sector :math:`s` with portfolio/benchmark weights :math:`w^P_s, w^B_s`
and returns :math:`r^P_s, r^B_s`, benchmark total :math:`R^B = \sum_s w^B_s r^B_s`:

.. math::

    A_s = (w^P_s - w^B_s)(r^B_s - R^B)\ \text{(Brinson–Fachler; BHB omits } -R^B)

    S_s = w^B_s (r^P_s - r^B_s), \qquad I_s = (w^P_s - w^B_s)(r^P_s - r^B_s)

and :math:`\sum_s (A_s + S_s + I_s) = R^P - R^B` exactly (both variants, since
:math:`\sum_s w^P_s = \sum_s w^B_s`).

Treynor–Mazuy (1966) regress excess returns on the market's and its square:

.. math:: r_t - r_f = \alpha + \beta (m_t - r_f) + \gamma (m_t - r_f)^2 + \varepsilon_t

with :math:`\gamma > 0` indicating market-timing skill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from tftrade.analytics.errors import AnalyticsError
from tftrade.core.types import Float64Array


@dataclass(frozen=True, slots=True)
class BrinsonResult:
    """Per-sector allocation, selection and interaction effects (same order as ``sectors``)."""

    sectors: tuple[str, ...]
    allocation: Float64Array
    selection: Float64Array
    interaction: Float64Array
    active_return: float

    def totals(self) -> dict[str, float]:
        """Return the summed effects and the active return they add up to."""
        return {"allocation": float(self.allocation.sum()), "selection": float(self.selection.sum()),
                "interaction": float(self.interaction.sum()), "active_return": self.active_return}


def brinson(
    portfolio_weights: npt.ArrayLike, benchmark_weights: npt.ArrayLike,
    portfolio_returns: npt.ArrayLike, benchmark_returns: npt.ArrayLike,
    sectors: npt.ArrayLike, method: Literal["brinson_fachler", "bhb"] = "brinson_fachler",
) -> BrinsonResult:
    """Return single-period Brinson attribution from asset-level weights and returns.

    Sector weights are sums of asset weights; sector returns are weight-averaged asset
    returns. A sector the portfolio does not hold takes the benchmark's sector return
    (so it contributes allocation only), as is conventional.

    Examples
    --------
    >>> res = brinson([0.6, 0.4], [0.5, 0.5], [0.10, 0.02], [0.10, 0.02], ["A", "B"])
    >>> {k: round(v, 4) for k, v in res.totals().items()}
    {'allocation': 0.008, 'selection': 0.0, 'interaction': 0.0, 'active_return': 0.008}
    """
    wp, wb, rp, rb = (np.asarray(x, dtype=np.float64).reshape(-1) for x in
                      (portfolio_weights, benchmark_weights, portfolio_returns, benchmark_returns))
    labels = np.asarray(sectors).reshape(-1)
    if not (wp.shape == wb.shape == rp.shape == rb.shape == labels.shape):
        raise AnalyticsError("weights, returns and sectors must have one entry per asset")
    names, codes = np.unique(labels, return_inverse=True)
    sw_p, sw_b = np.bincount(codes, wp), np.bincount(codes, wb)
    sr_b = _sector_return(codes, wb, rb, np.zeros_like(sw_b))
    sr_p = _sector_return(codes, wp, rp, sr_b)
    total_b = float(sw_b @ sr_b)
    alloc = (sw_p - sw_b) * (sr_b - (total_b if method == "brinson_fachler" else 0.0))
    return BrinsonResult(tuple(str(s) for s in names), alloc, sw_b * (sr_p - sr_b),
                         (sw_p - sw_b) * (sr_p - sr_b), float(wp @ rp - wb @ rb))


def _sector_return(
    codes: npt.NDArray[np.intp], w: Float64Array, r: Float64Array, fallback: Float64Array
) -> Float64Array:
    sw = np.bincount(codes, w, minlength=fallback.shape[0])
    swr = np.bincount(codes, w * r, minlength=fallback.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sw != 0, swr / np.where(sw != 0, sw, 1.0), fallback)


@dataclass(frozen=True, slots=True)
class TimingResult:
    """Treynor–Mazuy coefficients (per period), their t-statistics and the regression :math:`R^2`."""

    alpha: float
    beta: float
    gamma: float
    t_alpha: float
    t_beta: float
    t_gamma: float
    r_squared: float


def treynor_mazuy(returns: npt.ArrayLike, market: npt.ArrayLike, risk_free: float = 0.0) -> TimingResult:
    """Return the Treynor–Mazuy market-timing regression by ordinary least squares.

    Examples
    --------
    >>> m = np.linspace(-0.03, 0.03, 50)
    >>> res = treynor_mazuy(0.001 + 0.9 * m + 2.0 * m**2, m)
    >>> round(res.alpha, 6), round(res.beta, 6), round(res.gamma, 6)
    (0.001, 0.9, 2.0)
    """
    y = np.asarray(returns, dtype=np.float64).reshape(-1) - risk_free
    x = np.asarray(market, dtype=np.float64).reshape(-1) - risk_free
    if x.shape != y.shape or x.shape[0] < 4:
        raise AnalyticsError(f"need equal-length series of at least 4 periods, got {y.shape[0]} and {x.shape[0]}")
    design = np.column_stack([np.ones_like(x), x, x**2])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    dof = y.shape[0] - 3
    sigma2 = float(resid @ resid) / dof
    se = np.sqrt(np.maximum(np.diag(np.linalg.pinv(design.T @ design)) * sigma2, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, coef / np.where(se > 0, se, 1.0), np.inf)
    tss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / tss if tss > 0 else float("nan")
    return TimingResult(alpha=float(coef[0]), beta=float(coef[1]), gamma=float(coef[2]),
                        t_alpha=float(t[0]), t_beta=float(t[1]), t_gamma=float(t[2]), r_squared=r2)
