"""Human labels, with units, of the metric keys (``summary.json`` keeps the keys; pages show the labels)."""

from __future__ import annotations

import math

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


PERCENT_METRICS = ("total_return", "annual_return", "annual_volatility", "max_drawdown", "alpha", "tracking_error",
                   "win_rate")
"""Metrics that are fractions (of equity, or of bars for ``win_rate``): shown as percentages."""


def format_number(value: float, digits: int = 4) -> str:
    """Return ``value`` with ``digits`` decimals; ``n/a`` for NaN, ``inf``/``-inf`` for infinities.

    Examples
    --------
    >>> format_number(0.123456), format_number(float("nan")), format_number(float("-inf"))
    ('0.1235', 'n/a', '-inf')
    """
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def format_metric(name: str, value: float | None) -> str:
    """Return a headline metric as a reader sees it: fractions in percent, turnover in × capital, ratios with two
    decimals (the unit is in the row's label, see :func:`metric_label`).

    Examples
    --------
    >>> format_metric("total_return", 0.0396), format_metric("sharpe", 1.0634), format_metric("turnover", 4.16)
    ('+3.96%', '1.06', '4.16×')
    >>> format_metric("beta", None), format_metric("max_drawdown", float("nan"))
    ('–', 'n/a')
    """
    if value is None:
        return "–"
    value = float(value)
    if not math.isfinite(value):
        return format_number(value)
    if name in PERCENT_METRICS:
        signed = name in ("total_return", "annual_return", "alpha")
        return f"{value:+.2%}" if signed else f"{value:.2%}"
    if name == "turnover":
        return f"{value:.2f}×"
    return f"{value:.2f}"
