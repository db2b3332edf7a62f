"""Strategies: from forecasts, sentiment and regime to target weights (one code path for backtest and live).

The contract every strategy meets lives here too: :class:`Strategy`, :class:`MarketView`,
:class:`Targets`, :class:`AccountState`.
"""

from tftrade.strategy.bars import BARS_PER_DAY, periods_per_year
from tftrade.strategy.contract import AccountState, Strategy, Targets
from tftrade.strategy.errors import StrategyError
from tftrade.strategy.forecasts import ForecastPanel
from tftrade.strategy.view import MarketFrame, MarketView

__all__ = [
    "BARS_PER_DAY",
    "AccountState",
    "ForecastPanel",
    "MarketFrame",
    "MarketView",
    "Strategy",
    "StrategyError",
    "Targets",
    "periods_per_year",
]
