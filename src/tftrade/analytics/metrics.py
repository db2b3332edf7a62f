r"""Performance metrics with empyrical's conventions.

Per-period simple returns :math:`r_t`, benchmark :math:`b_t`, risk-free rate per period
:math:`r_f` (default 0), :math:`m` periods per year, :math:`T` periods:

=====================  ===============================================================
``total_return``       :math:`\prod_t (1 + r_t) - 1` over the whole period (never annualised)
``annual_return``      CAGR :math:`\bigl(\prod_t (1 + r_t)\bigr)^{m/T} - 1`
``annual_volatility``  :math:`\mathrm{std}(r, \mathrm{ddof}=1)\sqrt m`
``sharpe``             :math:`\overline{r - r_f} / \mathrm{std}(r - r_f, \mathrm{ddof}=1)\,\sqrt m`
``sortino``            :math:`m\,\overline{r - r_f} / (\sqrt{\overline{\min(r - r_f, 0)^2}}\sqrt m)`
``max_drawdown``       :math:`\min_t V_t / \max_{s \le t} V_s - 1` with :math:`V_0 = 1` (a negative number)
``calmar``             ``annual_return`` / :math:`|`\ ``max_drawdown``:math:`|` (NaN without drawdown)
``beta``               :math:`\mathrm{cov}(r - r_f, b - r_f) / \mathrm{var}(b - r_f)` (both ddof=0)
``alpha``              :math:`(1 + \overline{(r - r_f) - \beta (b - r_f)})^m - 1` (compounded, as empyrical)
``tracking_error``     :math:`\mathrm{std}(r - b, \mathrm{ddof}=1)\sqrt m` (annualised)
``information_ratio``  :math:`\overline{r - b} / \mathrm{std}(r - b, \mathrm{ddof}=1)\,\sqrt m` (annualised;
                       empyrical's ``excess_sharpe`` is the same without :math:`\sqrt m`)
``win_rate``           share of periods with :math:`r_t > 0` among periods with :math:`r_t \ne 0`
``profit_factor``      :math:`\sum_{r_t > 0} r_t / |\sum_{r_t < 0} r_t|` (inf without losses)
``turnover``           mean one-way turnover per period, :math:`\tfrac12\sum_i |w_{t,i} - w_{t-1,i}|`,
                       from the ``(T, n)`` ``weights`` argument (NaN without it)
=====================  ===============================================================

NaN returns are dropped (pairwise with the benchmark). Benchmark-relative metrics are NaN without a benchmark.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tftrade.analytics.errors import AnalyticsError
from tftrade.core.types import Float64Array

METRIC_NAMES = (
    "total_return", "annual_return", "annual_volatility", "sharpe", "sortino", "max_drawdown", "calmar",
    "alpha", "beta", "tracking_error", "information_ratio", "win_rate", "profit_factor", "turnover",
)


def metrics(
    returns: npt.ArrayLike,
    benchmark: npt.ArrayLike | None = None,
    periods_per_year: float = 252.0,
    *,
    weights: npt.ArrayLike | None = None,
    risk_free: float = 0.0,
) -> dict[str, float]:
    """Return the performance metrics described in the module docstring.

    Parameters
    ----------
    returns : per-period simple returns of the strategy.
    benchmark : per-period benchmark returns aligned with ``returns`` (same length).
    periods_per_year : 252 for daily bars.
    weights : ``(T, n)`` portfolio weights per period, for ``turnover``.
    risk_free : risk-free return per period.

    Raises
    ------
    AnalyticsError
        If fewer than two returns remain or the benchmark length differs.

    Examples
    --------
    >>> m = metrics([0.01, -0.005, 0.02, 0.0], periods_per_year=4)
    >>> round(m["annual_return"], 6), round(m["max_drawdown"], 4), m["win_rate"]
    (0.025049, -0.005, 0.6666666666666666)
    """
    r, b = _aligned(returns, benchmark)
    out = {"total_return": float(np.prod(1.0 + r) - 1.0)}
    out.update(_absolute(r, periods_per_year, risk_free))
    out.update(_relative(r, b, periods_per_year, risk_free))
    out["turnover"] = turnover(weights) if weights is not None else float("nan")
    return out


def _aligned(returns: npt.ArrayLike, benchmark: npt.ArrayLike | None) -> tuple[Float64Array, Float64Array | None]:
    r = np.asarray(returns, dtype=np.float64).reshape(-1)
    if benchmark is None:
        r = r[np.isfinite(r)]
        b = None
    else:
        b = np.asarray(benchmark, dtype=np.float64).reshape(-1)
        if b.shape != r.shape:
            raise AnalyticsError(f"benchmark has {b.shape[0]} periods, returns have {r.shape[0]}")
        ok = np.isfinite(r) & np.isfinite(b)
        r, b = r[ok], b[ok]
    if r.shape[0] < 2:
        raise AnalyticsError(f"need at least 2 finite returns, got {r.shape[0]}")
    return r, b


def _absolute(r: Float64Array, m: float, rf: float) -> dict[str, float]:
    ex = r - rf
    mdd = max_drawdown(r)
    ann = annual_return(r, m)
    downside = float(np.sqrt(np.mean(np.minimum(ex, 0.0) ** 2)) * np.sqrt(m))
    gains, losses = r[r > 0].sum(), -r[r < 0].sum()
    return {
        "annual_return": ann,
        "annual_volatility": float(r.std(ddof=1) * np.sqrt(m)),
        "sharpe": _ratio(ex.mean(), ex.std(ddof=1)) * np.sqrt(m),
        "sortino": _ratio(ex.mean() * m, downside),
        "max_drawdown": mdd,
        "calmar": _ratio(ann, -mdd),
        "win_rate": _ratio(float((r > 0).sum()), float((r != 0).sum())),
        "profit_factor": float(gains / losses) if losses > 0 else (float("inf") if gains > 0 else float("nan")),
    }


def _relative(r: Float64Array, b: Float64Array | None, m: float, rf: float) -> dict[str, float]:
    nan = float("nan")
    if b is None:
        return {"alpha": nan, "beta": nan, "tracking_error": nan, "information_ratio": nan}
    ex, bx = r - rf, b - rf
    beta = _ratio(np.mean((ex - ex.mean()) * (bx - bx.mean())), bx.var())
    active = r - b
    return {
        "alpha": float((1.0 + np.mean(ex - beta * bx)) ** m - 1.0),
        "beta": beta,
        "tracking_error": float(active.std(ddof=1) * np.sqrt(m)) if active.shape[0] > 1 else nan,
        "information_ratio": _ratio(active.mean(), active.std(ddof=1)) * np.sqrt(m),
    }


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def annual_return(returns: npt.ArrayLike, periods_per_year: float = 252.0) -> float:
    """Return the compound annual growth rate of per-period ``returns``.

    Examples
    --------
    >>> round(annual_return([0.1, 0.1], periods_per_year=2), 4)
    0.21
    """
    r = np.asarray(returns, dtype=np.float64)
    growth = float(np.prod(1.0 + r))
    return float(growth ** (periods_per_year / r.shape[0]) - 1.0)


def max_drawdown(returns: npt.ArrayLike) -> float:
    """Return the largest peak-to-trough loss (negative; 0 when none), starting from value 1.

    Examples
    --------
    >>> round(max_drawdown([0.1, -0.5, 0.2]), 4)
    -0.5
    """
    value = np.concatenate([[1.0], np.cumprod(1.0 + np.asarray(returns, dtype=np.float64))])
    return float(np.min(value / np.maximum.accumulate(value) - 1.0))


def drawdown_series(returns: npt.ArrayLike) -> Float64Array:
    """Return the drawdown after each period, :math:`V_t / \\max_{s \\le t} V_s - 1` with :math:`V_0 = 1`."""
    value = np.concatenate([[1.0], np.cumprod(1.0 + np.asarray(returns, dtype=np.float64))])
    return np.asarray((value / np.maximum.accumulate(value) - 1.0)[1:], dtype=np.float64)


def turnover(weights: npt.ArrayLike) -> float:
    """Return mean one-way turnover per period of a ``(T, n)`` weight history.

    Examples
    --------
    >>> turnover([[0.5, 0.5], [1.0, 0.0], [1.0, 0.0]])
    0.25
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] < 2:
        raise AnalyticsError(f"weights must be (T, n) with T >= 2, got shape {w.shape}")
    return float(np.mean(0.5 * np.abs(np.diff(w, axis=0)).sum(axis=1)))
