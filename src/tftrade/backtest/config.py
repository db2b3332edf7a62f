"""Backtest settings: frozen, validated, unknown keys rejected; the ``risk``/``costs``/``stops`` sections resolved.

:func:`trading_setup` turns the configuration's ``risk``, ``costs`` and ``stops`` sections (plus CLI
overrides, see :func:`apply_overrides`) into the objects the optimiser, the gate, the paper broker
and the stop rule take. ``tftrade backtest`` uses it, and live trading uses the same function so a
limit means the same thing in both modes; :meth:`TradingSetup.effective` is what every run records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from tftrade.core.config import CostSettings, RiskSettings, Settings, StopSettings
from tftrade.core.errors import ConfigError
from tftrade.core.timeframes import bar_minutes
from tftrade.core.types import Timeframe
from tftrade.execution.costs import CostModel
from tftrade.portfolio.config import OptimizerConfig
from tftrade.risk.gate import GateLimits
from tftrade.strategy.bars import BARS_PER_DAY, periods_per_year
from tftrade.strategy.forecast_strategy import StrategyConfig
from tftrade.strategy.tax_inputs import HarvestConfig, TaxAwareConfig
from tftrade.trading.config import TradingConfig

__all__ = ["BARS_PER_DAY", "BacktestConfig", "StopRule", "TradingSetup", "apply_overrides", "default_cooldown",
           "periods_per_year", "stop_rule", "trading_setup"]


class BacktestConfig(TradingConfig):
    """How the engine steps and trades: the trading loop's settings plus the starting cash and the run's name.

    Examples
    --------
    >>> BacktestConfig().initial_cash, BacktestConfig(rebalance_every=5).is_decision_step(5)
    (1000000.0, True)
    """

    initial_cash: float = Field(default=1_000_000.0, gt=0, allow_inf_nan=False)
    strategy_version: str = "backtest"


#: Section fields a CLI flag may override, by flag name (``--max-position`` -> ``risk.max_position``).
OVERRIDABLE: dict[str, str] = {
    **{name: "risk" for name in RiskSettings.model_fields},
    **{name: "costs" for name in CostSettings.model_fields},
    **{f"stop_{name}" if name in ("mode",) else name: "stops" for name in StopSettings.model_fields},
}


def apply_overrides(settings: Settings, overrides: Mapping[str, Any]) -> Settings:
    """Return ``settings`` with section values replaced, validated like the file (errors name the key).

    ``overrides`` maps ``"section.field"`` (e.g. ``"risk.max_position"``) to a value; ``None``
    values are ignored, so unset CLI flags keep the configured values.

    Raises
    ------
    ConfigError
        For an unknown section or key, or a value out of its range (e.g. a 500 % position limit).

    Examples
    --------
    >>> s = apply_overrides(Settings(home="/tmp/x"), {"risk.max_position": 0.04, "costs.half_spread_bps": None})
    >>> s.risk.max_position, s.costs.half_spread_bps
    (0.04, 2.0)
    """
    changes: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        section, _, name = key.partition(".")
        if section not in ("risk", "costs", "stops") or not name:
            raise ConfigError(f"unknown setting {key!r}; overridable sections are risk, costs and stops")
        changes.setdefault(section, {})[name] = value
    if not changes:
        return settings
    update: dict[str, Any] = {}
    for section, values in changes.items():
        current: BaseModel = getattr(settings, section)
        try:
            update[section] = type(current).model_validate({**current.model_dump(), **values})
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "?"
            raise ConfigError(f"invalid configuration at {section + '.' + where!r}: {first['msg']}") from None
    return settings.model_copy(update=update)


@dataclass(frozen=True)
class StopRule:
    """The effective stops of a timeframe: ``mode`` off, fixed fractions, or ATR multiples."""

    mode: Literal["fixed", "atr", "off"]
    stop_loss: float | None
    take_profit: float | None
    atr_period: int
    atr_stop: float
    atr_take: float
    reentry: Literal["signal", "off"] = "signal"
    cooldown: int = 0
    recovery: bool = True


def default_cooldown(timeframe: Timeframe) -> int:
    """Bars a stopped-out name stays flat by default: a week of daily bars, a session of hourly ones, 30 minutes.

    >>> [default_cooldown(t) for t in ("1min", "5min", "15min", "30min", "1h", "1day")]
    [30, 6, 2, 1, 7, 5]
    """
    minutes = bar_minutes(timeframe)
    if minutes >= 1440:
        return 5
    return 7 if minutes >= 60 else max(1, 30 // minutes)


def stop_rule(stops: StopSettings, timeframe: Timeframe) -> StopRule:
    """Resolve the timeframe defaults: fixed 2 %/4 % on bars under an hour, 3/6 ATR(14) on hourly and daily bars.

    Fourteen hourly bars are two sessions, so ATR stops scale with the bar as on daily bars; on
    1-30 minute bars ATR(14) is too short a look at the range and fixed fractions are used. The
    re-entry cool-down defaults to :func:`default_cooldown`.

    >>> stop_rule(StopSettings(), "1min").stop_loss, stop_rule(StopSettings(), "1day").mode
    (0.02, 'atr')
    >>> [stop_rule(StopSettings(), t).mode for t in ("5min", "15min", "30min", "1h")]
    ['fixed', 'fixed', 'fixed', 'atr']
    >>> r = stop_rule(StopSettings(), "1day"); r.reentry, r.cooldown, r.recovery
    ('signal', 5, True)
    """
    mode = stops.mode or ("fixed" if bar_minutes(timeframe) < 60 else "atr")
    return StopRule(mode, stops.stop_loss if stops.stop_loss is not None else 0.02,
                    stops.take_profit if stops.take_profit is not None else 0.04,
                    stops.atr_period, stops.atr_stop, stops.atr_take, stops.reentry,
                    stops.cooldown if stops.cooldown is not None else default_cooldown(timeframe), stops.recovery)


@dataclass(frozen=True)
class TradingSetup:
    """The risk, cost and stop settings of one run, resolved for its timeframe."""

    timeframe: Timeframe
    risk: RiskSettings
    costs: CostSettings
    stops: StopRule

    def optimizer(self, base: OptimizerConfig | None = None) -> OptimizerConfig:
        """The optimiser's limits and soft penalties (other fields from ``base``)."""
        r = self.risk
        return (base or OptimizerConfig()).model_copy(update={
            "max_weight": r.max_position, "max_sector_weight": r.max_sector, "beta_min": r.beta_min,
            "beta_max": r.beta_max, "long_only": r.long_only, "max_gross_leverage": max(r.max_gross, 1.0),
            "turnover_penalty": r.turnover_penalty, "risk_parity_blend": r.risk_parity_blend,
            "transaction_cost_bps": self.costs.half_spread_bps + self.costs.commission_bps,
        })

    def strategy(self, base: StrategyConfig | None = None) -> StrategyConfig:
        """The forecast strategy's settings: the optimiser's (:meth:`optimizer`) and the tax inputs of
        ``risk.tax_aware`` and ``risk.harvest`` (other fields from ``base``)."""
        r, cfg = self.risk, base or StrategyConfig()
        tax = TaxAwareConfig(short_rate=r.tax_rate_short, long_rate=r.tax_rate_long) if r.tax_aware else None
        harvest = None
        if r.harvest:
            try:
                harvest = HarvestConfig(substitutes=r.harvest_substitutes, min_loss=r.harvest_min_loss,
                                        min_loss_fraction=r.harvest_min_loss_fraction)
            except ValidationError as e:
                raise ConfigError(f"invalid configuration at 'risk.harvest_substitutes': "
                                  f"{e.errors()[0]['msg']}") from None
        return cfg.model_copy(update={"optimizer": self.optimizer(cfg.optimizer), "tax": tax or cfg.tax,
                                      "harvest": harvest or cfg.harvest})

    def gate_limits(self) -> GateLimits:
        """The pre-trade gate's limits."""
        r = self.risk
        return GateLimits(max_weight=r.max_position, max_sector_weight=r.max_sector, beta_min=r.beta_min,
                          beta_max=r.beta_max, max_var=r.max_var, var_alpha=r.var_alpha,
                          max_adv_fraction=r.max_adv_fraction, vix_block=r.vix_block, max_drawdown=r.max_drawdown)

    def cost_model(self) -> CostModel:
        """The paper broker's costs: per-stock square-root impact ``Y * sigma_i * sqrt(q / ADV_i)``.

        ``sigma_i`` (daily volatility) and ``ADV_i`` (average daily volume) are each stock's own,
        from the bars before the fill (``impact_window`` days, scaled from the timeframe's bars).
        """
        c = self.costs
        return CostModel(
            commission_per_share=c.commission_per_share, commission_min=c.commission_min,
            commission_bps=c.commission_bps, slippage_bps=c.half_spread_bps,
            impact_coefficient=c.impact_coefficient, impact_model="adv", impact_window=c.impact_window,
            bars_per_day=BARS_PER_DAY[self.timeframe], max_volume_share=c.max_volume_share,
            sec_fee_rate=c.sec_fee_rate, taf_per_share=c.taf_per_share, taf_max=c.taf_max,
        )

    def backtest_config(self, base: BacktestConfig | None = None) -> BacktestConfig:
        """``base`` with the cadence and the stops of this setup."""
        s = self.stops
        off = s.mode == "off"
        return (base or BacktestConfig()).model_copy(update={
            "rebalance_every": self.risk.rebalance_every,
            "stop_loss": None if off else s.stop_loss, "take_profit": None if off else s.take_profit,
            "stop_mode": "atr" if s.mode == "atr" else "fixed", "atr_period": s.atr_period,
            "atr_stop": s.atr_stop, "atr_take": s.atr_take,
            "reentry": "off" if off else s.reentry, "reentry_cooldown": s.cooldown, "reentry_recovery": s.recovery,
        })

    def effective(self) -> dict[str, Any]:
        """Every effective value, as recorded in a run's ``summary.json``."""
        return {"timeframe": self.timeframe, "risk": self.risk.model_dump(), "costs": self.costs.model_dump(),
                "stops": dict(self.stops.__dict__)}


def trading_setup(settings: Settings, timeframe: Timeframe, overrides: Mapping[str, Any] | None = None) -> TradingSetup:
    """Resolve the ``risk``, ``costs`` and ``stops`` sections (with ``overrides``) for ``timeframe``.

    Raises
    ------
    ConfigError
        If an override names an unknown key or is out of range.
    """
    s = apply_overrides(settings, overrides or {})
    return TradingSetup(timeframe, s.risk, s.costs, stop_rule(s.stops, timeframe))
