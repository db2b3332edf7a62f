r"""Trading costs: half-spread, market impact, commission, regulatory fees on sells, volume cap.

For a fill of :math:`q` shares (:math:`|q|` below) against a bar with volume :math:`V`
and reference price :math:`p_0` (the open, or the limit for a limit order filled inside the bar):

.. math::

    s &= \text{slippage\_bps}\cdot 10^{-4} + I \\
    I &= \text{impact\_coefficient}\cdot (|q| / V)^{e} \quad\text{(impact\_model "bar\_volume")} \\
    I &= \text{impact\_coefficient}\cdot \sigma_i \sqrt{|q| / \mathrm{ADV}_i}
         \quad\text{(impact\_model "adv": the square-root law per stock)} \\
    p &= p_0 (1 + s) \text{ for a buy},\quad p_0 (1 - s) \text{ for a sell} \\
    c &= \max\bigl(\text{commission\_min},\ |q|\cdot\text{commission\_per\_share}
          + |q|\,p\cdot\text{commission\_bps}\cdot 10^{-4}\bigr) \\
    f &= |q|\,p\cdot\text{sec\_fee\_rate} + \min(|q|\cdot\text{taf\_per\_share},\ \text{taf\_max})
          \quad\text{(sells only)}

``slippage_bps`` is the half-spread (plus any fixed slippage); :math:`e` is
``impact_exponent`` (1: linear, 0.5: the square-root law). The bar-volume impact is 0 when
:math:`V` is not positive or infinite. With ``impact_model="adv"`` each stock pays for its own
liquidity: :math:`\sigma_i` is its daily return volatility and :math:`\mathrm{ADV}_i` its average
daily volume in shares, both exponentially weighted over ``impact_window`` days of the bars seen
*before* the fill (:class:`Liquidity`), so the same dollar order costs more in a volatile, thinly
traded name. Until a stock has history, :math:`\sigma_i` is ``default_daily_vol`` and
:math:`\mathrm{ADV}_i` the fill bar's volume times ``bars_per_day``. A fill's ``commission`` is
:math:`c + f`. A bar fills at most ``max_volume_share`` :math:`\cdot V` shares summed over all orders on that ticker
(0 disables the cap).

Examples
--------
>>> c = CostModel(slippage_bps=10.0, impact_coefficient=0.0, commission_per_share=0.01, commission_min=1.0)
>>> round(c.fill_price(100.0, 1.0, 50.0, 1e6), 6)
100.1
>>> c.commission(50.0, 100.1), c.commission(500.0, 100.1)
(1.0, 5.0)
>>> fees = CostModel(sec_fee_rate=27.8e-6, taf_per_share=0.000166, taf_max=8.3)
>>> round(fees.commission(1000.0, 50.0, -1.0), 6), fees.commission(1000.0, 50.0, 1.0)
(1.556, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

FloatLike = float | npt.NDArray[np.float64]


class CostModel(BaseModel):
    """Commission, slippage and volume-cap settings (frozen, unknown keys rejected)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    commission_per_share: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    commission_min: float = Field(default=0.0, ge=0, allow_inf_nan=False, description="per fill")
    commission_bps: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    slippage_bps: float = Field(default=1.0, ge=0, allow_inf_nan=False, description="paid on every fill")
    impact_coefficient: float = Field(default=0.1, ge=0, allow_inf_nan=False,
                                      description="extra slippage = coefficient * fill qty / bar volume")
    max_volume_share: float = Field(default=0.1, ge=0, le=1, allow_inf_nan=False,
                                    description="share of a bar's volume that may fill; 0 disables the cap")
    impact_exponent: float = Field(default=1.0, gt=0, le=2, allow_inf_nan=False,
                                   description="impact = coefficient * (qty / volume) ** exponent")
    sec_fee_rate: float = Field(default=0.0, ge=0, le=1e-3, allow_inf_nan=False,
                                description="SEC Section 31 fee per dollar of sale proceeds (sells only)")
    taf_per_share: float = Field(default=0.0, ge=0, le=0.01, allow_inf_nan=False,
                                 description="FINRA Trading Activity Fee per share sold")
    taf_max: float = Field(default=8.30, ge=0, allow_inf_nan=False, description="FINRA TAF cap per fill, dollars")
    impact_model: Literal["bar_volume", "adv"] = Field(
        default="bar_volume", description="bar_volume: coefficient * (q/V_bar)**exponent; adv: coefficient * "
                                          "sigma_daily * sqrt(q / ADV) per stock")
    impact_window: float = Field(default=20.0, gt=0, allow_inf_nan=False,
                                 description="adv model: days of bars in the EWMA of volatility and volume")
    bars_per_day: float = Field(default=1.0, gt=0, allow_inf_nan=False,
                                description="adv model: bars per trading day (to scale bar figures to daily ones)")
    default_daily_vol: float = Field(default=0.02, gt=0, le=1, allow_inf_nan=False,
                                     description="adv model: daily volatility of a stock without history yet")

    @property
    def charges_commission(self) -> bool:
        """Whether any fill can pay commission or fees."""
        return bool(self.commission_per_share or self.commission_bps or self.commission_min
                    or self.sec_fee_rate or self.taf_per_share)

    @classmethod
    def none(cls) -> CostModel:
        """Zero commission, no slippage, no impact and no volume cap.

        >>> CostModel.none().max_volume_share
        0.0
        """
        return cls(slippage_bps=0.0, impact_coefficient=0.0, max_volume_share=0.0)

    def slippage(self, abs_qty: FloatLike, volume: FloatLike, liquidity: Liquid | None = None) -> FloatLike:
        """Price fraction paid against you: fixed slippage plus impact.

        ``liquidity`` (daily volatility and ADV per fill) selects the per-stock square-root impact
        of the ``adv`` model; without it the bar-volume impact ``coefficient * (|q| / V) ** e`` applies.
        """
        if liquidity is not None and self.impact_model == "adv":
            out_adv = self.slippage_bps * 1e-4 + self.adv_impact(abs_qty, liquidity.sigma, liquidity.adv)
            return float(out_adv) if np.ndim(out_adv) == 0 else out_adv
        vol = np.asarray(volume, dtype=np.float64)
        usable = np.isfinite(vol) & (vol > 0)
        ratio = np.divide(abs_qty, vol, out=np.zeros(np.broadcast(abs_qty, vol).shape), where=usable)
        if self.impact_exponent != 1.0:
            ratio = ratio**self.impact_exponent
        out = self.slippage_bps * 1e-4 + self.impact_coefficient * ratio
        return float(out) if out.ndim == 0 else out

    def adv_impact(self, abs_qty: FloatLike, sigma: FloatLike, adv: FloatLike) -> FloatLike:
        """Square-root impact ``coefficient * sigma * sqrt(|q| / ADV)`` as a price fraction (0 where ADV <= 0).

        >>> c = CostModel(impact_coefficient=0.7, impact_model="adv")
        >>> round(c.adv_impact(10_000.0, 0.015, 1e6) * 1e4, 2)  # 1 % of ADV, 1.5 % daily vol: 10.5 bp
        10.5
        """
        a = np.asarray(adv, dtype=np.float64)
        ok = np.isfinite(a) & (a > 0)
        ratio = np.divide(abs_qty, a, out=np.zeros(np.broadcast(abs_qty, a).shape), where=ok)
        out = self.impact_coefficient * np.asarray(sigma, dtype=np.float64) * np.sqrt(ratio)
        return float(out) if out.ndim == 0 else out

    def fill_price(self, reference: FloatLike, sign: FloatLike, abs_qty: FloatLike, volume: FloatLike,
                   liquidity: Liquid | None = None) -> FloatLike:
        """``reference * (1 + sign * slippage)``: buys (sign +1) pay up, sells (sign -1) receive less."""
        out = np.asarray(reference) * (1.0 + np.asarray(sign) * self.slippage(abs_qty, volume, liquidity))
        return float(out) if np.ndim(out) == 0 else out

    def commission(self, abs_qty: FloatLike, price: FloatLike, sign: FloatLike = 1.0) -> FloatLike:
        """Commission plus, on sells (``sign < 0``), the SEC fee and FINRA TAF, for a fill of ``|q| > 0`` shares."""
        q = np.asarray(abs_qty, dtype=np.float64)
        notional = q * np.asarray(price)
        raw = q * self.commission_per_share + notional * self.commission_bps * 1e-4
        out = np.where(q > 0, np.maximum(raw, self.commission_min), 0.0)
        if self.sec_fee_rate or self.taf_per_share:
            out = out + np.where(np.asarray(sign) < 0, self.regulatory_fees(q, price), 0.0)
        return float(out) if out.ndim == 0 else out

    def regulatory_fees(self, abs_qty: FloatLike, price: FloatLike) -> FloatLike:
        """SEC fee plus FINRA TAF of a sale of ``|q|`` shares at ``price``."""
        q = np.asarray(abs_qty, dtype=np.float64)
        out = q * np.asarray(price) * self.sec_fee_rate + np.minimum(q * self.taf_per_share, self.taf_max)
        return float(out) if out.ndim == 0 else out

    def breakdown(self, reference: float, quantity: float, price: float, commission: float,
                  volume: float) -> FillCost:
        """Split what one fill of signed ``quantity`` at ``price`` paid against ``reference`` (e.g. the bar's open).

        The half-spread is ``slippage_bps`` of the reference; impact is the rest of the price
        difference. ``commission`` (what the fill was charged: broker commission plus, on a sell,
        regulatory fees) is split into the SEC fee and FINRA TAF of the sale (at most the charge)
        and the broker's commission, the remainder; the three add up to ``commission``.

        >>> c = CostModel(slippage_bps=2.0, sec_fee_rate=27.8e-6, taf_per_share=0.000166)
        >>> charged = c.commission(1000.0, 99.9, -1.0)  # commission-free broker: the fees only
        >>> part = c.breakdown(100.0, -1000.0, 99.9, charged, 1e6)
        >>> round(part.spread, 2), round(part.impact, 2), round(part.sec_fee, 4), round(part.finra_taf, 4)
        (20.0, 80.0, 2.7772, 0.166)
        >>> part.commission, part.sec_fee + part.finra_taf + part.commission == charged
        (0.0, True)
        """
        q = abs(quantity)
        spread = q * reference * self.slippage_bps * 1e-4
        moved = q * abs(price - reference)
        sec = taf = 0.0
        if quantity < 0 and (self.sec_fee_rate or self.taf_per_share):
            sec_m = q * price * self.sec_fee_rate
            taf_m = min(q * self.taf_per_share, self.taf_max)
            fees = min(float(self.regulatory_fees(q, price)), commission)
            sec = fees * sec_m / (sec_m + taf_m) if sec_m + taf_m > 0 else 0.0
            taf = fees - sec
        return FillCost(spread=spread, impact=max(moved - spread, 0.0), sec_fee=sec, finra_taf=taf,
                        commission=commission - (sec + taf))

    def volume_cap(self, volume: FloatLike) -> FloatLike:
        """Shares a bar can fill on one ticker: ``max_volume_share * V`` (``inf`` when the cap is off).

        A bar with missing (NaN) or non-positive volume fills nothing while the cap is on.
        """
        vol = np.asarray(volume, dtype=np.float64)
        if self.max_volume_share == 0:
            out = np.full(vol.shape, np.inf)
        else:
            out = np.where(np.isnan(vol), 0.0, np.maximum(vol, 0.0) * self.max_volume_share)
        return float(out) if out.ndim == 0 else out


@dataclass(frozen=True, slots=True)
class FillCost:
    """What one fill paid, in dollars: half-spread, market impact, SEC fee, FINRA TAF, broker commission."""

    spread: float
    impact: float
    sec_fee: float
    finra_taf: float
    commission: float

    @property
    def fees(self) -> float:
        """The regulatory fees: SEC fee plus FINRA TAF."""
        return self.sec_fee + self.finra_taf

    @property
    def total(self) -> float:
        """Everything together."""
        return self.spread + self.impact + self.sec_fee + self.finra_taf + self.commission


@dataclass(frozen=True, slots=True)
class Liquid:
    """Daily return volatility and average daily volume (shares), one value per fill (or per ticker)."""

    sigma: npt.NDArray[np.float64]
    adv: npt.NDArray[np.float64]

    def take(self, where: npt.NDArray[np.int64]) -> Liquid:
        """Values at positions ``where`` (-1: unknown, NaN)."""
        absent = where < 0
        sig, adv = self.sigma[where], self.adv[where]
        if absent.any():
            sig, adv = np.where(absent, np.nan, sig), np.where(absent, np.nan, adv)
        return Liquid(sig, adv)


class Liquidity:
    """Each stock's daily volatility and ADV from the bars seen so far (EWMA over ``window`` days), causal.

    :meth:`step` returns the estimates known *before* a bar (what a fill on that bar pays) and then
    folds the bar in. Bar figures are scaled to daily ones with ``bars_per_day``: the volatility
    by its square root, the volume by the factor. A stock without a return yet gets
    ``default_vol``; one without volume history, the current bar's volume times ``bars_per_day``.

    Examples
    --------
    >>> liq = Liquidity(window=20, bars_per_day=1)
    >>> for close in (100.0, 101.0, 99.0, 100.0):
    ...     est = liq.step(("A",), np.array([close]), np.array([1e6]))
    >>> round(float(est.sigma[0]), 4), float(est.adv[0])
    (0.0157, 1000000.0)
    """

    def __init__(self, window: float = 20.0, bars_per_day: float = 1.0, default_vol: float = 0.02) -> None:
        self.alpha = 1.0 / (window * bars_per_day)
        self.bars_per_day, self.default_vol = bars_per_day, default_vol
        self._col: dict[str, int] = {}
        self._key: Sequence[str] | None = None
        self._where = np.empty(0, dtype=np.int64)
        self._var = np.empty(0)
        self._n = np.empty(0)
        self._vol = np.empty(0)
        self._nv = np.empty(0)
        self._last = np.empty(0)

    def _locate(self, tickers: Sequence[str]) -> npt.NDArray[np.int64]:
        if tickers is not self._key:
            for t in tickers:
                if t not in self._col:
                    self._col[t] = len(self._col)
            grow = len(self._col) - self._var.shape[0]
            if grow > 0:
                self._var = np.r_[self._var, np.zeros(grow)]
                self._n = np.r_[self._n, np.zeros(grow)]
                self._vol = np.r_[self._vol, np.full(grow, np.nan)]
                self._nv = np.r_[self._nv, np.zeros(grow)]
                self._last = np.r_[self._last, np.full(grow, np.nan)]
            self._key, self._where = tickers, np.fromiter((self._col[t] for t in tickers), np.int64, len(tickers))
        return self._where

    def step(self, tickers: Sequence[str], close: npt.ArrayLike, volume: npt.ArrayLike) -> Liquid:
        """Estimates per ticker before this bar; then this bar's close and volume are folded in."""
        w = self._locate(tickers)
        c, v = np.asarray(close, dtype=np.float64), np.asarray(volume, dtype=np.float64)
        known = self._n[w] > 0
        sigma = np.where(known, np.sqrt(self._var[w] * self.bars_per_day), self.default_vol)
        vol = self._vol[w]
        adv = np.where(np.isfinite(vol), vol, v) * self.bars_per_day
        out = Liquid(sigma, adv)
        a = self.alpha
        with np.errstate(invalid="ignore", divide="ignore"):
            r = c / self._last[w] - 1.0
        ok = np.isfinite(r)
        n = self._n[w]
        weight = np.maximum(a, 1.0 / (n + 1.0))  # a plain mean until the window fills, then the EWMA
        self._var[w] = np.where(ok, self._var[w] + weight * (r * r - self._var[w]), self._var[w])
        self._n[w] = n + ok
        good_v = np.isfinite(v) & (v > 0)
        nv = self._nv[w]
        vol_n = np.where(np.isnan(vol), v, vol + np.maximum(a, 1.0 / (nv + 1.0)) * (v - vol))
        self._vol[w] = np.where(good_v, vol_n, vol)
        self._nv[w] = nv + good_v
        self._last[w] = np.where(np.isfinite(c), c, self._last[w])
        return out
