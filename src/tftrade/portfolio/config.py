"""Optimiser configuration: frozen, validated, unknown keys rejected."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OptimizerConfig(BaseModel):
    """Limits and penalties of :func:`~tftrade.portfolio.optimize`.

    Examples
    --------
    >>> OptimizerConfig(max_weight=0.1).max_sector_weight
    0.25
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    long_only: bool = Field(default=True, description="weights >= 0; False allows shorts down to -max_weight")
    max_weight: float = Field(default=0.05, gt=0, le=1, description="cap on |w_i| per stock")
    max_sector_weight: float = Field(default=0.25, gt=0, le=1, description="cap on |sum of w_i| per sector")
    beta_min: float = Field(default=0.8, description="lower bound of portfolio beta against the benchmark")
    beta_max: float = Field(default=1.2, description="upper bound of portfolio beta against the benchmark")
    max_gross_leverage: float = Field(default=2.0, ge=1, description="sum |w_i| cap (long-short only)")
    risk_aversion: float = Field(default=2.5, gt=0, description="delta in mu'w - delta/2 w'Sigma w")
    transaction_cost_bps: float = Field(default=10.0, ge=0, description="linear cost per unit of traded weight, in bps")
    turnover_penalty: float = Field(default=0.0, ge=0, description="extra L1 penalty per unit of traded weight")
    risk_parity_blend: float = Field(default=0.0, ge=0, lt=1, description="pull towards risk-parity weights")
    risk_model: Literal["auto", "full", "factor"] = Field(
        default="auto", description="full Sigma, a statistical factor model of it, or factor when n > factor_threshold"
    )
    n_factors: int = Field(default=20, ge=1, description="factors kept by the factor risk model")
    factor_threshold: int = Field(default=150, ge=1, description="'auto' uses the factor model above this many assets")
    solver: str = Field(default="CLARABEL", description="cvxpy solver name")
    solver_options: dict[str, bool | int | float | str] | None = Field(
        default=None,
        description="keyword options passed to the solver; None uses tuned defaults (optimizer.CLARABEL_DEFAULTS)",
    )

    @model_validator(mode="after")
    def _beta_band_ordered(self) -> Self:
        if self.beta_min > self.beta_max:
            raise ValueError(f"beta_min {self.beta_min} exceeds beta_max {self.beta_max}")
        return self
