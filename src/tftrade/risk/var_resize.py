r"""Bringing a set of orders within a VaR limit by cutting the orders that add most to VaR first.

Given the book's weights :math:`w_0`, the orders' weight changes :math:`\Delta w_i` and a
``(T, n)`` return history, the post-trade VaR is :math:`V(w_0 + \sum_i s_i \Delta w_i e_i)` with
every order's scale :math:`s_i = 1`. The *incremental VaR* of order :math:`i` is what VaR falls by
when the order is dropped:

.. math:: \mathrm{IVaR}_i = V(w) - V(w - s_i \Delta w_i e_i).

An order with :math:`\mathrm{IVaR}_i \le 0` reduces risk (typically a sell of a long that
hedges the rest) and is never cut. While VaR exceeds the target, the order with the largest
incremental VaR is cut: dropped entirely if VaR is still above the target without it, else
scaled by bisection to the largest size that meets the target; incremental VaRs are then
recomputed at the new book. When VaR is still above the target but no single remaining order
lowers it when dropped (orders that only add risk together), they are scaled down together by
one factor, by bisection. Historical and parametric VaR rank orders with their own method;
Monte Carlo ranks with the parametric one (same mean and covariance) and checks with its own.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> hist = rng.normal(0, [0.04, 0.005], size=(250, 2))
>>> res = cut_to_var(np.zeros(2), np.array([0.5, 0.5]), hist, limit=0.02)
>>> [round(float(s), 2) for s in res.scale], res.var_after <= 0.02 + 1e-9
([0.6, 1.0], True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from tftrade.core.types import Float64Array
from tftrade.risk.var import VaRMethod, portfolio_var


@dataclass(frozen=True, slots=True)
class OrderCut:
    """One order cut for VaR: its incremental VaR at the time and the scale it was given."""

    index: int
    incremental_var: float
    scale: float
    var_after: float


@dataclass(frozen=True, slots=True)
class VarCut:
    """The scale per order (1 = untouched), VaR before/after, the cuts in order and the risk-reducing orders."""

    scale: Float64Array
    var_before: float
    var_after: float
    cuts: tuple[OrderCut, ...] = field(default=())
    reducing: tuple[int, ...] = field(default=())


def _series_var(p: Float64Array, alpha: float, method: VaRMethod) -> Float64Array:
    """VaR of each column of portfolio return series ``p`` (``(T, k)``): historical or Gaussian."""
    if method == "historical":
        out: Float64Array = -np.quantile(p, 1.0 - alpha, axis=0)
        return out
    z = float(norm.ppf(1.0 - alpha))
    gauss: Float64Array = -(p.mean(axis=0) + p.std(axis=0, ddof=1) * z)
    return gauss


def cut_to_var(w0: Float64Array, dw: Float64Array, history: Float64Array, limit: float, alpha: float = 0.95,
               method: VaRMethod = "historical") -> VarCut:
    """Scale the orders ``dw`` (weight changes) so the post-trade VaR is at most ``max(limit, VaR(w0))``.

    Rows of ``history`` with a missing return are left out (as :func:`~tftrade.risk.var.portfolio_var` does).
    See the module docstring for the rule.
    """
    x = history[np.all(np.isfinite(history), axis=1)]
    scale = np.ones(dw.shape[0])

    def var(weights: Float64Array) -> float:
        return portfolio_var(weights, x, alpha, method).var

    v0, v = var(w0), var(w0 + dw)
    target = max(limit, v0)
    if v <= target + 1e-12:
        return VarCut(scale, v, v)
    ranking: VaRMethod = "parametric" if method == "monte_carlo" else method
    cuts: list[OrderCut] = []
    reducing: tuple[int, ...] = ()
    first = True
    while v > target + 1e-12:
        live = np.flatnonzero((dw != 0) & (scale > 0))
        live = live[~np.isin(live, reducing)]  # a risk-reducing order is never cut
        if live.shape[0] == 0:
            break
        w = w0 + dw * scale
        p = x @ w
        step = x[:, live] * (dw * scale)[live]
        inc = _series_var(p[:, None], alpha, ranking)[0] - _series_var(p[:, None] - step, alpha, ranking)
        if first:
            reducing, first = tuple(int(i) for i in live[inc <= 0]), False
        adding = (inc > 0) & ~np.isin(live, reducing)
        if not adding.any():  # no one order lowers VaR alone, yet together they raise it: cut them together
            rest = live[~np.isin(live, reducing)]
            step = np.zeros_like(dw)
            step[rest] = dw[rest] * scale[rest]
            f = _largest_within(var, w0 + dw * scale - step, step, target)
            for i in rest.tolist():
                scale[i] *= f
            v = var(w0 + dw * scale)
            cuts.extend(OrderCut(int(i), float(inc[live == i][0]), float(scale[i]), v) for i in rest.tolist())
            break
        k = int(np.argmax(np.where(adding, inc, -np.inf)))
        i = int(live[k])
        without = w - dw[i] * scale[i] * np.eye(1, dw.shape[0], i)[0]
        if var(without) > target:
            scale[i], v = 0.0, var(without)
        else:
            scale[i] *= _largest_within(var, without, dw[i] * scale[i] * np.eye(1, dw.shape[0], i)[0], target)
            v = var(w0 + dw * scale)
        cuts.append(OrderCut(i, float(inc[k]), float(scale[i]), v))
    return VarCut(scale, var(w0 + dw), v, tuple(cuts), reducing)


def _largest_within(var: Callable[[Float64Array], float], base: Float64Array, step: Float64Array, target: float,
                    steps: int = 30) -> float:
    """The largest ``a`` in [0, 1] with ``var(base + a * step) <= target``, by bisection (0 if none)."""
    lo, hi = 0.0, 1.0
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if var(base + mid * step) <= target else (lo, mid)
    return lo
