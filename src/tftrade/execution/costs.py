r"""Trading costs: commission, slippage, market impact and the per-bar volume cap.

For a fill of :math:`q` shares (:math:`|q|` below) against a bar with volume :math:`V`
and reference price :math:`p_0` (the open, or the limit for a limit order filled inside the bar):

.. math::

    s &= \text{slippage\_bps}\cdot 10^{-4} + \text{impact\_coefficient}\cdot |q| / V \\
    p &= p_0 (1 + s) \text{ for a buy},\quad p_0 (1 - s) \text{ for a sell} \\
    c &= \max\bigl(\text{commission\_min},\ |q|\cdot\text{commission\_per\_share}
          + |q|\,p\cdot\text{commission\_bps}\cdot 10^{-4}\bigr)

The impact term is 0 when :math:`V` is not positive or infinite. A bar fills at most
``max_volume_share`` :math:`\cdot V` shares summed over all orders on that ticker
(0 disables the cap).

Examples
--------
>>> c = CostModel(slippage_bps=10.0, impact_coefficient=0.0, commission_per_share=0.01, commission_min=1.0)
>>> round(c.fill_price(100.0, 1.0, 50.0, 1e6), 6)
100.1
>>> c.commission(50.0, 100.1), c.commission(500.0, 100.1)
(1.0, 5.0)
"""

from __future__ import annotations

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
        out = self.slippage_bps * 1e-4 + self.impact_coefficient * ratio
        return float(out) if out.ndim == 0 else out

    def fill_price(self, reference: FloatLike, sign: FloatLike, abs_qty: FloatLike, volume: FloatLike) -> FloatLike:
        """``reference * (1 + sign * slippage)``: buys (sign +1) pay up, sells (sign -1) receive less."""
        out = np.asarray(reference) * (1.0 + np.asarray(sign) * self.slippage(abs_qty, volume))
        return float(out) if np.ndim(out) == 0 else out

    def commission(self, abs_qty: FloatLike, price: FloatLike) -> FloatLike:
        """``max(commission_min, |q| * per_share + |q| * price * bps / 1e4)`` for a fill of ``|q| > 0`` shares."""
        q = np.asarray(abs_qty, dtype=np.float64)
        raw = q * self.commission_per_share + q * np.asarray(price) * self.commission_bps * 1e-4
        out = np.where(q > 0, np.maximum(raw, self.commission_min), 0.0)
        return float(out) if out.ndim == 0 else out

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
