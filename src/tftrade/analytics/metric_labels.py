"""Human labels, with units, of the metric keys (``summary.json`` keeps the keys; pages show the labels)."""

from __future__ import annotations

METRIC_LABELS = {
    "total_return": "Total return (%)",
    "annual_return": "Annual return (CAGR, %)",
    "annual_volatility": "Annual volatility (%)",
    "sharpe": "Sharpe ratio",
    "sortino": "Sortino ratio",
    "max_drawdown": "Max drawdown (%)",
    "calmar": "Calmar ratio",
    "alpha": "Alpha (% / year)",
    "beta": "Beta",
    "tracking_error": "Tracking error (% / year)",
    "information_ratio": "Information ratio",
    "win_rate": "Win rate (% of bars)",
    "profit_factor": "Profit factor",
    "turnover": "Turnover (× capital / year)",
}
"""Label of each key of :data:`tftrade.analytics.metrics.METRIC_NAMES`."""

TURNOVER_PER_SESSION = "Turnover (× capital / session)"
"""The turnover label of a run too short to annualise (its turnover is shown per session)."""


def metric_label(key: str) -> str:
    """The label of a metric key; an unknown key is turned into words.

    >>> metric_label("max_drawdown"), metric_label("sortino"), metric_label("hit_ratio")
    ('Max drawdown (%)', 'Sortino ratio', 'Hit ratio')
    """
    return METRIC_LABELS.get(key) or key.replace("_", " ").capitalize()
