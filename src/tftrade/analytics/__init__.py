"""Analytics: performance metrics (empyrical conventions) and attribution (Brinson, Treynor–Mazuy).

Pure numerical library: arrays in, numbers out, no I/O.
"""

from tftrade.analytics.attribution import BrinsonResult, TimingResult, brinson, treynor_mazuy
from tftrade.analytics.errors import AnalyticsError
from tftrade.analytics.metrics import METRIC_NAMES, annual_return, drawdown_series, max_drawdown, metrics, turnover

__all__ = [
    "METRIC_NAMES",
    "AnalyticsError",
    "BrinsonResult",
    "TimingResult",
    "annual_return",
    "brinson",
    "drawdown_series",
    "max_drawdown",
    "metrics",
    "treynor_mazuy",
    "turnover",
]
