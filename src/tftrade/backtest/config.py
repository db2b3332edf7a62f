"""Backtest settings: frozen, validated, unknown keys rejected."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tftrade.strategy.bars import BARS_PER_DAY, periods_per_year

__all__ = ["BARS_PER_DAY", "BacktestConfig", "periods_per_year"]


class BacktestConfig(BaseModel):
    """How the engine steps and trades.

    Examples
    --------
    >>> BacktestConfig().initial_cash
    1000000.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_cash: float = Field(default=1_000_000.0, gt=0, allow_inf_nan=False)
    rebalance_every: int = Field(default=1, ge=1, description="decide every k-th bar")
    warmup: int = Field(default=0, ge=0, description="bars before the first decision")
    stop_loss: float | None = Field(default=0.02, gt=0, description="per-position stop (None disables)")
    take_profit: float | None = Field(default=0.04, gt=0, description="per-position take-profit (None disables)")
    risk_lookback: int = Field(default=60, ge=5, description="bars of returns for betas and VaR in the gate")
    fractional_shares: bool = False
    min_trade_shares: float = Field(default=1.0, ge=0, description="smaller deltas are not traded")
    cancel_open_orders: bool = Field(default=True, description="cancel what is unfilled before a new decision")
    strategy_version: str = "backtest"
