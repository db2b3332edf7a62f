"""Forecast metrics on unscaled returns.

Arrays: ``y`` is samples × horizons, quantile forecasts samples × horizons × quantiles.
"""

from __future__ import annotations

import numpy as np

from tftrade.core.types import Float64Array, Int64Array


def quantile_loss(y: Float64Array, pred: Float64Array, q: float) -> Float64Array:
    """Return the pinball loss ``max(q e, (q - 1) e)`` with ``e = y - pred``."""
    e = y - pred
    return np.maximum(q * e, (q - 1) * e)


def q_risk(y: Float64Array, pred: Float64Array, q: float) -> float:
    """Return ``2 Σ QL_q(y, pred) / Σ |y|`` (the TFT paper's normalised quantile loss).

    Examples
    --------
    >>> y = np.array([1.0, -1.0])
    >>> q_risk(y, np.zeros(2), 0.5)
    1.0
    """
    return float(2 * quantile_loss(y, pred, q).sum() / max(np.abs(y).sum(), 1e-300))


def mae(y: Float64Array, pred: Float64Array) -> float:
    """Return the mean absolute error."""
    return float(np.abs(y - pred).mean())


def directional_accuracy(y: Float64Array, pred: Float64Array) -> float:
    """Return the share of non-zero outcomes whose sign the forecast got right (ties count half)."""
    keep = y != 0
    hit = np.where(pred[keep] == 0, 0.5, (np.sign(pred[keep]) == np.sign(y[keep])).astype(np.float64))
    return float(hit.mean()) if hit.size else float("nan")


def information_coefficient(y: Float64Array, pred: Float64Array, groups: Int64Array, rank: bool = False) -> float:
    """Return the mean cross-sectional correlation of ``pred`` with ``y`` over groups (time origins).

    Groups with fewer than three members or no variance are skipped. ``rank=True`` gives the rank IC
    (average ranks within each group). Vectorised with ``bincount``; no loop over groups.

    Examples
    --------
    >>> g = np.array([0, 0, 0, 1, 1, 1])
    >>> information_coefficient(np.array([1., 2, 3, 1, 2, 3]), np.array([1., 2, 3, 3, 2, 1]), g)
    0.0
    """
    _, g = np.unique(groups, return_inverse=True)
    if rank:
        y, pred = _group_ranks(y, g), _group_ranks(pred, g)
    n = np.bincount(g).astype(np.float64)
    mx, my = np.bincount(g, pred) / n, np.bincount(g, y) / n
    dx, dy = pred - mx[g], y - my[g]
    cov, vx, vy = np.bincount(g, dx * dy), np.bincount(g, dx * dx), np.bincount(g, dy * dy)
    ok = (n >= 3) & (vx > 1e-300) & (vy > 1e-300)
    return float(np.mean(cov[ok] / np.sqrt(vx[ok] * vy[ok]))) if ok.any() else float("nan")


def _group_ranks(x: Float64Array, g: Int64Array) -> Float64Array:
    """Average ranks (ties share their mean rank) within each group."""
    order = np.lexsort((x, g))
    xs, gs = x[order], g[order]
    position = np.arange(len(x)) - np.searchsorted(gs, gs, side="left")
    new_run = np.ones(len(x), dtype=bool)
    new_run[1:] = (xs[1:] != xs[:-1]) | (gs[1:] != gs[:-1])
    run = np.cumsum(new_run) - 1
    ranks = np.empty(len(x))
    ranks[order] = (np.bincount(run, position) / np.bincount(run))[run]
    return ranks


def coverage(y: Float64Array, lower: Float64Array, upper: Float64Array) -> float:
    """Return the share of outcomes inside ``[lower, upper]``."""
    return float(((y >= lower) & (y <= upper)).mean())


def price_mape(y: Float64Array, pred: Float64Array) -> float:
    """Return the MAPE of the price implied by log returns: ``|exp(pred) - exp(y)| / exp(y)`` in percent."""
    return float(np.mean(np.abs(np.exp(pred) - np.exp(y)) / np.exp(y)) * 100)


def report(
    y: Float64Array, quantiles: Float64Array, levels: tuple[float, ...], origins: Int64Array
) -> dict[str, float]:
    """Return every metric of one forecaster (see the module docstring for shapes)."""
    mid = levels.index(0.5) if 0.5 in levels else len(levels) // 2
    p50 = quantiles[..., mid]
    out = {f"q_risk_p{round(q * 100)}": q_risk(y, quantiles[..., k], q) for k, q in enumerate(levels)}
    groups = np.repeat(origins[:, None], y.shape[1], axis=1) * y.shape[1] + np.arange(y.shape[1])
    out |= {
        "mae": mae(y, p50),
        "directional_accuracy": directional_accuracy(y, p50),
        "ic": information_coefficient(y.ravel(), p50.ravel(), groups.ravel()),
        "rank_ic": information_coefficient(y.ravel(), p50.ravel(), groups.ravel(), rank=True),
        "coverage_10_90": coverage(y, quantiles[..., 0], quantiles[..., -1]),
        "price_mape_pct": price_mape(y, p50),
    }
    return out
