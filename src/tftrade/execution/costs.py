r"""Trading costs: half-spread, market impact, commission, regulatory fees on sells, volume cap.

For a fill of :math:`q` shares (:math:`|q|` below) against a bar with volume :math:`V`
and reference price :math:`p_0` (the open, or the limit for a limit order filled inside the bar):

.. math::

    s &= \text{slippage\_bps}\cdot 10^{-4} + \text{impact\_coefficient}\cdot (|q| / V)^{e} \\
    p &= p_0 (1 + s) \text{ for a buy},\quad p_0 (1 - s) \text{ for a sell} \\
    c &= \max\bigl(\text{commission\_min},\ |q|\cdot\text{commission\_per\_share}
          + |q|\,p\cdot\text{commission\_bps}\cdot 10^{-4}\bigr) \\
    f &= |q|\,p\cdot\text{sec\_fee\_rate} + \min(|q|\cdot\text{taf\_per\_share},\ \text{taf\_max})
          \quad\text{(sells only)}

``slippage_bps`` is the half-spread (plus any fixed slippage); :math:`e` is
``impact_exponent`` (1: linear, 0.5: the square-root law). The impact term is 0 when
:math:`V` is not positive or infinite. A fill's ``commission`` is :math:`c + f`. A bar fills
at most ``max_volume_share`` :math:`\cdot V` shares summed over all orders on that ticker
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

from dataclasses import dataclass

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

    def slippage(self, abs_qty: FloatLike, volume: FloatLike) -> FloatLike:
        """Price fraction paid against you: fixed slippage plus impact ``coefficient * |q| / V``."""
        vol = np.asarray(volume, dtype=np.float64)
        usable = np.isfinite(vol) & (vol > 0)
        ratio = np.divide(abs_qty, vol, out=np.zeros(np.broadcast(abs_qty, vol).shape), where=usable)
        if self.impact_exponent != 1.0:
            ratio = ratio**self.impact_exponent
        out = self.slippage_bps * 1e-4 + self.impact_coefficient * ratio
        return float(out) if out.ndim == 0 else out

    def fill_price(self, reference: FloatLike, sign: FloatLike, abs_qty: FloatLike, volume: FloatLike) -> FloatLike:
        """``reference * (1 + sign * slippage)``: buys (sign +1) pay up, sells (sign -1) receive less."""
        out = np.asarray(reference) * (1.0 + np.asarray(sign) * self.slippage(abs_qty, volume))
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
        difference; fees are the sell-side regulatory fees; commission is the remainder of ``commission``.
        """
        q = abs(quantity)
        spread = q * reference * self.slippage_bps * 1e-4
        moved = q * abs(price - reference)
        fees = float(self.regulatory_fees(q, price)) if quantity < 0 else 0.0
        return FillCost(spread=spread, impact=max(moved - spread, 0.0), fees=min(fees, commission),
                        commission=max(commission - fees, 0.0))

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
    """What one fill paid, in dollars: half-spread, market impact, regulatory fees, commission."""

    spread: float
    impact: float
    fees: float
    commission: float

    @property
    def total(self) -> float:
        """All four together."""
        return self.spread + self.impact + self.fees + self.commission
