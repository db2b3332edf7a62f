r"""Multi-period attribution for compliance reports: Brinson linked with Carino, and timing.

Brinson effects of single periods add up to each period's active return
:math:`R_t - B_t` but not to the active return of the whole, :math:`R - B` with
:math:`R = \prod_t (1 + R_t) - 1`. Carino (1999) scales each period's effects by

.. math::

    k_t = \frac{\ln(1 + R_t) - \ln(1 + B_t)}{R_t - B_t}, \qquad
    k = \frac{\ln(1 + R) - \ln(1 + B)}{R - B}

(the limits :math:`1/(1 + R_t)` and :math:`1/(1 + R)` when the returns are equal), so the
linked effects :math:`\sum_t e_{t} k_t / k` add up to :math:`R - B` exactly.

Selection versus market timing per period uses the Treynor–Mazuy regression fitted on the
whole report's bars, :math:`r - m = \alpha + (\beta - 1)\,m + \gamma m^2 + \varepsilon`
written on the portfolio's returns :math:`r` and the market's :math:`m`: per period,
selection is :math:`\sum \alpha`, timing :math:`\gamma \sum m^2`, market exposure
:math:`(\beta - 1) \sum m`, and the residual is what the regression leaves unexplained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tftrade.analytics.attribution import BrinsonResult, treynor_mazuy
from tftrade.compliance.errors import ComplianceError
from tftrade.core.types import Float64Array


@dataclass(frozen=True, slots=True)
class LinkedBrinson:
    """Per-period and linked (Carino) effects; ``linked`` rows sum to ``total_active``."""

    labels: tuple[str, ...]
    sectors: tuple[str, ...]
    periods: tuple[dict[str, Any], ...]
    linked: dict[str, dict[str, float]]
    portfolio_return: float
    benchmark_return: float

    @property
    def total_active(self) -> float:
        """Compounded active return :math:`R - B`."""
        return self.portfolio_return - self.benchmark_return

    def linked_totals(self) -> dict[str, float]:
        """Linked allocation, selection and interaction summed over sectors."""
        return {k: sum(v.values()) for k, v in self.linked.items()}


def carino_factor(r: float, b: float) -> float:
    """:math:`(\\ln(1+r) - \\ln(1+b)) / (r - b)`, or :math:`1/(1+r)` when ``r == b``.

    >>> round(carino_factor(0.1, 0.1), 6), round(carino_factor(0.1, 0.05), 6)
    (0.909091, 0.9304)
    """
    if r <= -1 or b <= -1:
        raise ComplianceError(f"returns must be above -100 % to link them (got {r}, {b})")
    if math.isclose(r, b, rel_tol=0.0, abs_tol=1e-15):
        return 1.0 / (1.0 + r)
    return (math.log1p(r) - math.log1p(b)) / (r - b)


def link_brinson(results: Sequence[BrinsonResult], portfolio_returns: Sequence[float],
                 benchmark_returns: Sequence[float], labels: Sequence[str]) -> LinkedBrinson:
    """Link single-period Brinson results (same sectors, in time order) with Carino's factors.

    ``portfolio_returns[t] - benchmark_returns[t]`` must equal ``results[t].active_return``.
    """
    if not results or not len(results) == len(portfolio_returns) == len(benchmark_returns) == len(labels):
        raise ComplianceError("need one portfolio return, benchmark return and label per Brinson period")
    sectors = results[0].sectors
    total_r = float(np.prod([1 + r for r in portfolio_returns]) - 1)
    total_b = float(np.prod([1 + b for b in benchmark_returns]) - 1)
    k = carino_factor(total_r, total_b)
    linked = {name: dict.fromkeys(sectors, 0.0) for name in ("allocation", "selection", "interaction")}
    periods: list[dict[str, Any]] = []
    for res, r, b, label in zip(results, portfolio_returns, benchmark_returns, labels, strict=True):
        if res.sectors != sectors:
            raise ComplianceError("every period must have the same sectors")
        kt = carino_factor(r, b)
        for name, arr in (("allocation", res.allocation), ("selection", res.selection),
                          ("interaction", res.interaction)):
            for s, v in zip(sectors, arr, strict=True):
                linked[name][s] += float(v) * kt / k
        periods.append({"period": label, "portfolio": r, "benchmark": b, **res.totals()})
    return LinkedBrinson(tuple(labels), sectors, tuple(periods), linked, total_r, total_b)


@dataclass(frozen=True, slots=True)
class TimingSplit:
    """One period's active return split into selection, timing, market exposure and residual."""

    period: str
    active: float
    selection: float
    timing: float
    exposure: float
    residual: float


def selection_timing(returns: npt.ArrayLike, market: npt.ArrayLike, period_of_bar: Sequence[str]) -> list[TimingSplit]:
    """Selection vs timing per period from the Treynor–Mazuy fit on all bars (module docstring)."""
    r = np.asarray(returns, dtype=np.float64)
    m = np.asarray(market, dtype=np.float64)
    tm = treynor_mazuy(r, m)
    out: list[TimingSplit] = []
    labels = list(dict.fromkeys(period_of_bar))
    tags = np.asarray(period_of_bar)
    for label in labels:
        mask = tags == label
        rp, mp = r[mask], m[mask]
        active = float(np.sum(rp - mp))
        sel, timing, expo = tm.alpha * mask.sum(), tm.gamma * float(np.sum(mp**2)), (tm.beta - 1) * float(np.sum(mp))
        out.append(TimingSplit(label, active, float(sel), timing, expo, active - float(sel) - timing - expo))
    return out


def weights_with_cash(weights: Float64Array) -> Float64Array:
    """Append the cash weight ``1 - sum(w)`` as a last column (so weights sum to one)."""
    w = np.nan_to_num(np.asarray(weights, dtype=np.float64))
    out: Float64Array = np.column_stack([w, 1.0 - w.sum(axis=1)]) if w.ndim == 2 else np.append(w, 1.0 - w.sum())
    return out
