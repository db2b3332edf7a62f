"""Vectorised matching of open orders against one bar per ticker (pure numpy, no state).

Rules, per open order (arrays are aligned on the open orders, in submission order):

* **not trading**: a NaN open, high or low (or a ticker missing from the cross-section)
  fills nothing; the order waits.
* **market**: fills at the open.
* **buy limit** ``L``: fills when the bar opens at or below ``L`` (at the open: a gap
  through the limit fills at the better price) or trades below ``L`` (at ``L``).
  **Sell limit**: mirrored (opens at or above ``L``, or trades above ``L``).
* **volume cap**: all orders on one ticker together fill at most
  :meth:`CostModel.volume_cap` shares, first submitted first served; the rest waits.
  Orders in whole shares fill whole shares.
* **price**: the reference price moved against the order by :meth:`CostModel.slippage`;
  a limit fill is never worse than its limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tftrade.core.types import BoolArray, Float64Array, Int64Array
from tftrade.execution.costs import CostModel, Liquid

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class BarMatch:
    """What one bar fills: per open order the absolute shares (0 = nothing), price and commission."""

    abs_qty: Float64Array
    price: Float64Array
    commission: Float64Array


def match_orders(
    costs: CostModel,
    remaining: Float64Array,
    limit: Float64Array,
    whole: BoolArray,
    where: Int64Array,
    bar: tuple[Float64Array, Float64Array, Float64Array, Float64Array],
    liquidity: Liquid | None = None,
) -> BarMatch:
    """Fill open orders against one cross-section.

    Parameters
    ----------
    remaining
        Signed shares still open per order.
    limit
        Limit price per order, NaN for market orders.
    whole
        True where the order trades whole shares (fills are floored to integers).
    where
        Position of each order's ticker in the cross-section, -1 when it is absent.
    bar
        ``(open, high, low, volume)`` arrays of the cross-section.
    liquidity
        Daily volatility and ADV per ticker of the cross-section (the ``adv`` impact model), or ``None``.
    """
    absent = where < 0
    o, h, lo, v = (np.asarray(a, dtype=np.float64)[where] for a in bar)  # -1 picks the last column ...
    if absent.any():  # ... so blank the absent tickers out
        for a in (o, h, lo, v):
            a[absent] = np.nan
    buy = remaining > 0
    trading = np.isfinite(o + h + lo)
    is_limit = ~np.isnan(limit)
    if is_limit.any():
        gap = np.where(buy, o <= limit, o >= limit)
        through = np.where(buy, lo < limit, h > limit)
        can = trading & (~is_limit | gap | through)
        reference = np.where(is_limit & ~gap, limit, o)
    else:  # market orders only: every trading order fills at the open
        can, reference = trading, o
    want = np.where(can, np.abs(remaining), 0.0)
    qty = want if costs.max_volume_share == 0 else _apply_volume_cap(
        want, where, np.asarray(costs.volume_cap(v), dtype=np.float64))
    if whole.any():
        qty = np.where(whole, np.floor(qty + _EPS), qty)
    if costs.slippage_bps == 0 and costs.impact_coefficient == 0:
        price = reference  # no slippage: the reference price itself (a limit fill is at or better than L)
    else:
        sign = np.sign(remaining)
        liq = liquidity.take(where) if liquidity is not None else None
        price = np.asarray(costs.fill_price(reference, sign, qty, v, liq), dtype=np.float64)
        if is_limit.any():
            price = np.where(is_limit, np.where(buy, np.minimum(price, limit), np.maximum(price, limit)), price)
    if not costs.charges_commission:
        commission = np.zeros(qty.shape[0])
    else:
        commission = np.asarray(costs.commission(qty, price, np.sign(remaining)), dtype=np.float64)
    return BarMatch(abs_qty=qty, price=price, commission=commission)


def _apply_volume_cap(want: Float64Array, where: Int64Array, cap: Float64Array) -> Float64Array:
    """Share each ticker's cap among its orders in submission order (arrays are in that order)."""
    if np.all(np.isinf(cap)):
        return want
    order = np.argsort(where, kind="stable")
    w, c, key = want[order], cap[order], where[order]
    prior = np.cumsum(w) - w  # shares wanted by earlier orders (all tickers)
    starts = np.r_[True, key[1:] != key[:-1]]
    used_before = prior - np.maximum.accumulate(np.where(starts, prior, 0.0))
    filled = np.clip(c - used_before, 0.0, w)
    out = np.empty_like(want)
    out[order] = filled
    return out
