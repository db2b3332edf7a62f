"""The strategy contract lives in :mod:`tftrade.strategy.contract` (re-exported here for old imports)."""

from tftrade.strategy.contract import AccountState, Strategy, Targets

__all__ = ["AccountState", "Strategy", "Targets"]
