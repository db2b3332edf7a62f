"""How the trading loop decides and trades (frozen, validated, unknown keys rejected)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TradingConfig(BaseModel):
    """Cadence, stops, sizing and risk look-back of the loop; the same values in every mode.

    Examples
    --------
    >>> TradingConfig(rebalance_every=5).rebalance_every
    5
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rebalance_every: int = Field(default=1, ge=1, description="decide every k-th bar")
    warmup: int = Field(default=0, ge=0, description="bars before the first decision")
    stop_loss: float | None = Field(default=0.02, gt=0, description="per-position stop (None disables)")
    take_profit: float | None = Field(default=0.04, gt=0, description="per-position take-profit (None disables)")
    stop_mode: Literal["fixed", "atr"] = Field(default="fixed", description="fixed fractions or multiples of ATR")
    atr_period: int = Field(default=14, ge=2, description="bars in the average true range (atr mode)")
    atr_stop: float = Field(default=3.0, gt=0, description="atr mode: stop at entry - k ATR")
    atr_take: float = Field(default=6.0, gt=0, description="atr mode: take-profit at entry + k ATR")
    reentry: Literal["off", "signal"] = Field(
        default="off", description="after a stop exit: 'signal' re-enters at the strategy's standing target once "
                                   "the cool-down has passed (and, after a stop-loss, the close is back beyond the "
                                   "stop level); 'off' waits for the strategy's next fresh target")
    reentry_cooldown: int = Field(default=0, ge=0, description="bars after a stop exit in which the name is not "
                                                               "re-opened (signal mode)")
    reentry_recovery: bool = Field(default=True, description="signal mode: after a stop-loss, re-open only once the "
                                                             "close is back above (long) / below (short) the stop")
    risk_lookback: int = Field(default=60, ge=5, description="bars of returns for betas and VaR in the gate")
    fractional_shares: bool = False
    min_trade_shares: float = Field(default=1.0, ge=0, description="smaller deltas are not traded")
    cancel_open_orders: bool = Field(default=True, description="cancel what is unfilled before a new decision")

    def is_decision_step(self, step: int) -> bool:
        """True when bar number ``step`` (0-based since the feed started) is a decision bar.

        >>> [TradingConfig(warmup=2, rebalance_every=3).is_decision_step(s) for s in range(7)]
        [False, False, True, False, False, True, False]
        """
        return step >= self.warmup and (step - self.warmup) % self.rebalance_every == 0
