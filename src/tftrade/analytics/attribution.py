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
    other: tuple[tuple[str, float], ...] = ()
    """Further named parts of the active return (multi-period runs: trading and costs, benchmark gap)."""
    portfolio_return: float = float("nan")
    benchmark_return: float = float("nan")
    description: str = ""
    """What was attributed against what (benchmark, weights used), shown with the table."""

    def totals(self) -> dict[str, float]:
        """Return the summed effects and the active return they add up to."""
        out = {"allocation": float(self.allocation.sum()), "selection": float(self.selection.sum()),
               "interaction": float(self.interaction.sum())}
        out.update({name: value for name, value in self.other})
        out["active_return"] = self.active_return
        return out


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


def linked_brinson(
    weights: npt.ArrayLike, asset_returns: npt.ArrayLike, sectors: npt.ArrayLike,
    portfolio_returns: npt.ArrayLike, benchmark_returns: npt.ArrayLike,
    benchmark_weights: npt.ArrayLike | None = None, benchmark_name: str = "the benchmark",
) -> BrinsonResult:
    r"""Multi-period Brinson–Fachler against the benchmark whose return the headline shows, Carino-linked.

    Period :math:`t` uses the weights held at the end of :math:`t-1` (``weights[t-1]``, cash is
    the rest, a "cash" sector at return 0) and the asset returns of :math:`t`. The benchmark's
    sector weights are ``benchmark_weights`` (equal weights over the names with a return at
    :math:`t` when ``None``: an index's constituent weights are rarely known). The period's
    active return :math:`r^P_t - r^B_t` (``portfolio_returns`` / ``benchmark_returns``: the
    equity curve and the headline benchmark) splits exactly into allocation + selection +
    interaction (held weights vs the weighted universe), *trading, costs and intra-bar timing*
    (:math:`r^P_t - \sum_i w_{t-1,i} r_{t,i}`) and *benchmark vs its proxy* (weighted universe minus
    the benchmark). Carino's factors :math:`k_t / K` with :math:`k = \ln(1+r^P) - \ln(1+r^B)` over
    :math:`r^P - r^B` make the linked parts add up to :math:`R^P - R^B` of the whole run exactly.

    Examples
    --------
    >>> w = [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]
    >>> r = [[0.0, 0.0], [0.02, 0.0], [0.01, -0.01]]
    >>> res = linked_brinson(w, r, ["A", "B"], [0.0, 0.01, 0.0], [0.0, 0.0, 0.0])
    >>> abs(sum(res.totals().values()) - 2 * res.active_return) < 1e-12, round(res.active_return, 6)
    (True, 0.01)
    """
    w = np.asarray(weights, dtype=np.float64)
    r = np.asarray(asset_returns, dtype=np.float64)
    rp = np.asarray(portfolio_returns, dtype=np.float64).reshape(-1)
    rb = np.asarray(benchmark_returns, dtype=np.float64).reshape(-1)
    labels = np.asarray(sectors).reshape(-1).astype(str)
    t_n, n = w.shape if w.ndim == 2 else (0, 0)
    if r.shape != (t_n, n) or rp.shape != (t_n,) or rb.shape != (t_n,) or labels.shape != (n,) or t_n < 2:
        raise AnalyticsError("weights and asset_returns must be (T, n) with T >= 2, returns (T,), "
                             "one sector per asset")
    names = np.unique(np.r_[labels, ["cash"]])
    codes = np.searchsorted(names, labels)
    cash_code = int(np.searchsorted(names, "cash"))
    k = names.shape[0]
    parts = {name: np.zeros(k) for name in ("allocation", "selection", "interaction")}
    trading = proxy_gap = 0.0
    r_total_p, r_total_b = float(np.prod(1 + np.nan_to_num(rp[1:])) - 1), float(np.prod(1 + np.nan_to_num(rb[1:])) - 1)
    big_k = _carino(r_total_p, r_total_b)
    fixed_b = None if benchmark_weights is None else np.asarray(benchmark_weights, dtype=np.float64).reshape(-1)
    for t in range(1, t_n):
        rt = r[t]
        has = np.isfinite(rt)
        rt = np.where(has, rt, 0.0)
        wp = np.nan_to_num(w[t - 1])
        wb = fixed_b if fixed_b is not None else np.where(has, 1.0 / max(int(has.sum()), 1), 0.0)
        sw_p = np.bincount(codes, wp, minlength=k)
        sw_p[cash_code] += 1.0 - wp.sum()
        sw_b = np.bincount(codes, wb, minlength=k)
        sw_b[cash_code] += 1.0 - wb.sum()
        sr_b = _sector_return(codes, wb, rt, np.zeros(k))
        sr_p = _sector_return(codes, wp, rt, sr_b)
        sr_b[cash_code] = 0.0
        sr_p[cash_code] = 0.0
        total_b = float(sw_b @ sr_b)
        model_p = float(sw_p @ sr_p)
        p_t, b_t = float(np.nan_to_num(rp[t])), float(np.nan_to_num(rb[t]))
        scale = _carino(p_t, b_t) / big_k
        parts["allocation"] += scale * (sw_p - sw_b) * (sr_b - total_b)
        parts["selection"] += scale * sw_b * (sr_p - sr_b)
        parts["interaction"] += scale * (sw_p - sw_b) * (sr_p - sr_b)
        trading += scale * (p_t - model_p)
        proxy_gap += scale * (total_b - b_t)
    how = ("its stated weights" if fixed_b is not None else
           "equal weights over the traded universe (the constituents' weights are not known)")
    return BrinsonResult(
        tuple(str(x) for x in names), parts["allocation"], parts["selection"], parts["interaction"],
        r_total_p - r_total_b,
        other=(("trading, costs and intra-bar timing", trading), (f"{benchmark_name} vs its proxy", proxy_gap)),
        portfolio_return=r_total_p, benchmark_return=r_total_b,
        description=(f"Active return against {benchmark_name}, the benchmark of the headline: the run's total return "
                     f"{r_total_p:+.2%} minus the benchmark's {r_total_b:+.2%}. "
                     f"Sector weights of the benchmark: {how}. "
                     "Brinson–Fachler per bar on the weights held at the previous close, Carino-linked so that the "
                     "parts add up to the active return."),
    )


def _carino(rp: float, rb: float) -> float:
    if abs(rp - rb) < 1e-15:
        return 1.0 / (1.0 + rp)
    return float((np.log1p(rp) - np.log1p(rb)) / (rp - rb))
