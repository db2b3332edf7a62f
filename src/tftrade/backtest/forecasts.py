"""Out-of-sample forecasts as ``(T, n)`` arrays: moved to :mod:`tftrade.strategy.forecasts` (re-exported here)."""

from tftrade.strategy.forecasts import ForecastPanel, realised_returns, take_row

__all__ = ["ForecastPanel", "realised_returns", "take_row"]
