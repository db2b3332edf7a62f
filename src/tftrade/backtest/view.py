"""The market view lives in :mod:`tftrade.strategy.view` (re-exported here for old imports)."""

from tftrade.strategy.view import MarketFrame, MarketView

__all__ = ["MarketFrame", "MarketView"]
