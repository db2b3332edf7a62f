"""Risk: VaR/CVaR, the pre-trade gate shared by backtest and live trading, and per-bar stops.

Pure numerical library: arrays in, decisions out, no I/O and no clock.
"""

from tftrade.risk.errors import RiskError
from tftrade.risk.gate import AccountSnapshot, Decision, GateLimits, GateResult, MarketSnapshot, RiskGate
from tftrade.risk.stops import Exit, check_stops, first_exit
from tftrade.risk.var import VaRResult, historical_var, monte_carlo_var, parametric_var, portfolio_var

__all__ = [
    "AccountSnapshot",
    "Decision",
    "Exit",
    "GateLimits",
    "GateResult",
    "MarketSnapshot",
    "RiskError",
    "RiskGate",
    "VaRResult",
    "check_stops",
    "first_exit",
    "historical_var",
    "monte_carlo_var",
    "parametric_var",
    "portfolio_var",
]
