"""Trailing estimates every decision needs: returns, betas, average daily volume.

All inputs are histories ending at the decision bar, so the estimates are causal.
"""

from __future__ import annotations

import numpy as np

from tftrade.core.types import Float64Array


def simple_returns(close: Float64Array) -> Float64Array:
    """Per-period simple returns of a ``(L, n)`` close history → ``(L - 1, n)``; missing values are 0.

    Examples
    --------
    >>> simple_returns(np.array([[100.0], [110.0], [np.nan]])).round(3).tolist()
    [[0.1], [0.0]]
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        out: Float64Array = np.divide(close[1:], close[:-1])
        out -= 1.0
    out[~np.isfinite(out)] = 0.0  # NaN and ±inf, as nan_to_num(nan=0, posinf=0, neginf=0) without its copies
    return out


def betas(returns: Float64Array, market: Float64Array | None) -> Float64Array:
    """OLS beta of each column of ``returns`` ``(L, n)`` on ``market`` ``(L,)``; 1 when unknown.

    Without a market series the equal-weighted mean return stands in.

    Examples
    --------
    >>> m = np.array([0.01, -0.02, 0.03, 0.0])
    >>> betas(np.stack([2 * m, 0.5 * m], axis=1), m).round(6).tolist()
    [2.0, 0.5]
    """
    if returns.shape[0] < 3:
        return np.ones(returns.shape[1])
    m = returns.mean(axis=1) if market is None else np.nan_to_num(market, nan=0.0)
    mc = m - m.mean()
    var = float(mc @ mc)
    if var <= 0:
        return np.ones(returns.shape[1])
    out: Float64Array = (mc @ (returns - returns.mean(axis=0))) / var
    return out


def dollar_adv(close: Float64Array, volume: Float64Array, bars_per_day: int) -> Float64Array:
    """Average traded value per day over the history (``close × volume`` summed per day, averaged).

    Examples
    --------
    >>> dollar_adv(np.full((4, 1), 10.0), np.full((4, 1), 5.0), bars_per_day=2).tolist()
    [100.0]
    """
    value = close * volume
    value[np.isnan(value)] = 0.0
    if np.isinf(value).any():  # as nan_to_num: ±inf become the largest finite values
        value = np.nan_to_num(value)
    days = max(value.shape[0] / bars_per_day, 1.0)
    out: Float64Array = value.sum(axis=0) / days
    return out


def share_adv(volume: Float64Array, bars_per_day: int) -> Float64Array:
    """Average shares traded per day over the history."""
    days = max(volume.shape[0] / bars_per_day, 1.0)
    out: Float64Array = np.nan_to_num(volume, nan=0.0).sum(axis=0) / days
    return out
