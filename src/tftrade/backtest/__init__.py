"""Event-driven backtest over cross-sections with the live trading objects and an injected clock."""

from tftrade.backtest.config import BacktestConfig, periods_per_year
from tftrade.backtest.engine import Backtest, run_backtest
from tftrade.backtest.errors import BacktestError
from tftrade.backtest.market import MarketData, from_frame, load_market
from tftrade.backtest.result import BacktestResult, GateEvent
from tftrade.backtest.strategy import AccountState, Strategy, Targets
from tftrade.backtest.view import MarketView

__all__ = [
    "AccountState",
    "Backtest",
    "BacktestConfig",
    "BacktestError",
    "BacktestResult",
    "GateEvent",
    "MarketData",
    "MarketView",
    "Strategy",
    "Targets",
    "from_frame",
    "load_market",
    "periods_per_year",
    "run_backtest",
]
