"""Analytics: performance metrics (empyrical conventions), attribution (Brinson, Treynor–Mazuy), tearsheet.

Metrics and attribution are pure numerical code (arrays in, numbers out, no I/O).
``render_tearsheet`` writes the HTML report; it is imported on first use so that
importing the metrics does not load plotly.
"""

from typing import TYPE_CHECKING, Any

from tftrade.analytics.attribution import BrinsonResult, TimingResult, brinson, treynor_mazuy
from tftrade.analytics.errors import AnalyticsError
from tftrade.analytics.metrics import METRIC_NAMES, annual_return, drawdown_series, max_drawdown, metrics, turnover
from tftrade.analytics.tearsheet_data import TearsheetData

if TYPE_CHECKING:
    from tftrade.analytics.tearsheet import render_tearsheet

__all__ = [
    "METRIC_NAMES",
    "AnalyticsError",
    "BrinsonResult",
    "TearsheetData",
    "TimingResult",
    "annual_return",
    "brinson",
    "drawdown_series",
    "max_drawdown",
    "metrics",
    "render_tearsheet",
    "treynor_mazuy",
    "turnover",
]


def __getattr__(name: str) -> Any:
    if name == "render_tearsheet":
        from tftrade.analytics.tearsheet import render_tearsheet

        return render_tearsheet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
