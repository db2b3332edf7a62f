"""The one trading loop: bars in, targets → shares → risk gate → orders out; it knows no mode.

A backtest drives it with a historical feed, a simulated clock and simulated fills; live trading
with a bus feed, the system clock and a paper or Alpaca broker. Nothing else differs.
"""

from tftrade.trading.config import TradingConfig
from tftrade.trading.feed import BarEvent, Feed
from tftrade.trading.fills import BarFills, FillSource
from tftrade.trading.loop import TradingLoop
from tftrade.trading.recorder import NullRecorder, Recorder
from tftrade.trading.session import AlwaysOpen, Session

__all__ = [
    "AlwaysOpen",
    "BarEvent",
    "BarFills",
    "Feed",
    "FillSource",
    "NullRecorder",
    "Recorder",
    "Session",
    "TradingConfig",
    "TradingLoop",
]
