"""Plotly figures of the tearsheet's performance and exposure sections.

Every builder takes plain arrays and returns a :class:`plotly.graph_objects.Figure`;
series longer than ``max_points`` are downsampled (bucket minima and maxima kept, see
:mod:`tftrade.analytics.downsample`) and the chart title says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go

from tftrade.analytics.downsample import extreme_indices, stride_indices
from tftrade.analytics.periodic_returns import PeriodReturns, covers_two_months, period_returns
from tftrade.core.types import Float64Array, Int64Array

MAX_POINTS = 5_000
EXCHANGE_TZ = "America/New_York"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def plot_times(timestamps_ns: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """Return times as the shortest exact strings, in New York time (dates alone for daily data).

    Series stamped at UTC midnight (daily data kept in UTC) stay dates; anything else is shown
    in the exchange's time zone, so a session reads 09:30–16:00.

    Examples
    --------
    >>> plot_times([0, 86_400 * 10**9]).tolist()
    ['1970-01-01', '1970-01-02']
    >>> plot_times([1704205800 * 10**9]).tolist(), plot_times([1704171600 * 10**9]).tolist()
    (['2024-01-02 09:30'], ['2024-01-02'])
    """
    ns = np.asarray(timestamps_ns, dtype=np.int64).reshape(-1)
    day, minute, second = 86_400 * 10**9, 60 * 10**9, 10**9
    if ns.size and not np.all(ns % day == 0):
        local = pd.DatetimeIndex(ns.astype("datetime64[ns]"), tz="UTC").tz_convert(EXCHANGE_TZ).tz_localize(None)
        ns = np.asarray(local.asi8, dtype=np.int64)
    unit: Literal["D", "m", "s", "ms"] = "ms"
    for size, name in ((day, "D"), (minute, "m"), (second, "s")):
        if np.all(ns % size == 0):
            unit = name  # type: ignore[assignment]  # name is one of the literals above
            break
    text = np.datetime_as_string(ns.astype("datetime64[ns]"), unit=unit)
    return np.char.replace(text, "T", " ")


def session_rangebreaks(timestamps_ns: npt.ArrayLike) -> list[dict[str, object]]:
    """Plotly ``rangebreaks`` that hide weekends, holidays (weekdays without data) and, intraday, 16:00–09:30.

    For charts whose traces do not share one x grid (per-ticker dropdowns), where a categorical
    axis would misorder points. Labels are New York time as in :func:`plot_times`.

    >>> [b.get("bounds") for b in session_rangebreaks([1704205800 * 10**9, 1704205860 * 10**9])]
    [['sat', 'mon'], [16, 9.5]]
    """
    labels = plot_times(timestamps_ns)
    if labels.size == 0:
        return []
    breaks: list[dict[str, object]] = [{"bounds": ["sat", "mon"]}]
    if any(len(x) > 10 for x in labels.tolist()):
        breaks.append({"bounds": [16, 9.5], "pattern": "hour"})
    days = {x[:10] for x in labels.tolist()}
    weekdays = pd.bdate_range(min(days), max(days)).strftime("%Y-%m-%d")
    missing = [d for d in weekdays if d not in days]
    if missing:
        breaks.append({"values": missing})
    return breaks


def trading_time_axis(fig: go.Figure, n_ticks: int = 8) -> go.Figure:
    """Put the x axis on trading time: one slot per observation, so nights, weekends and holidays take no width.

    The axis is categorical over the (sorted) time labels; ``n_ticks`` labels are shown.
    """
    fig.update_xaxes(type="category", nticks=n_ticks, tickangle=0, showgrid=False)
    return fig


def downsample_note(total: int, kept: int) -> str:
    """Return the title suffix stating a downsampling (empty when nothing was dropped)."""
    return "" if kept >= total else f" (downsampled from {total:,} to {kept:,} points; bucket min/max kept)"


def _filled(values: Float64Array) -> Float64Array:
    """Return ``values`` with NaNs replaced by the mean of the finite values (0 when none), for picking points."""
    finite = np.isfinite(values)
    fill = float(values[finite].mean()) if finite.any() else 0.0
    return np.where(finite, values, fill)


def _layout(fig: go.Figure, title: str, yaxis: str, trading_time: bool = False) -> go.Figure:
    fig.update_layout(title=title, yaxis_title=yaxis, template="plotly_white", height=420,
                      margin={"l": 60, "r": 30, "t": 60, "b": 40}, legend={"orientation": "h", "y": -0.15})
    return trading_time_axis(fig) if trading_time else fig


def equity_figure(
    timestamps: Int64Array, equity: Float64Array, benchmark: Float64Array | None, max_points: int = MAX_POINTS
) -> go.Figure:
    """Return strategy (and benchmark) equity over time with a linear/log scale switch."""
    idx = extreme_indices(equity, max_points if benchmark is None else max_points // 2)
    if benchmark is not None:
        idx = np.union1d(idx, extreme_indices(_filled(benchmark), max_points // 2))
    x = plot_times(timestamps[idx])
    fig = go.Figure(go.Scatter(x=x, y=equity[idx], name="strategy", mode="lines"))
    if benchmark is not None:
        fig.add_trace(go.Scatter(x=x, y=benchmark[idx], name="benchmark", mode="lines"))
    fig.update_layout(updatemenus=[{
        "type": "buttons", "direction": "right", "x": 1.0, "xanchor": "right", "y": 1.15,
        "buttons": [{"label": "linear", "method": "relayout", "args": [{"yaxis.type": "linear"}]},
                    {"label": "log", "method": "relayout", "args": [{"yaxis.type": "log"}]}],
    }])
    return _layout(fig, "Equity vs benchmark" + downsample_note(equity.shape[0], idx.shape[0]), "equity", True)


def comparison_figure(timestamps: Int64Array, equity: Float64Array, others: Mapping[str, Float64Array],
                      benchmark: Float64Array | None, max_points: int = MAX_POINTS) -> go.Figure:
    """Return this run's equity with each comparison run's (``others``: label -> equity) and the benchmark."""
    curves = {"this run": equity, **others}
    per = max(max_points // (len(curves) + 1), 2)
    idx = np.unique(np.concatenate([extreme_indices(_filled(c), per) for c in curves.values()]))
    x = plot_times(timestamps[idx])
    fig = go.Figure()
    for name, curve in curves.items():
        fig.add_trace(go.Scatter(x=x, y=curve[idx], name=name, mode="lines",
                                 line={"width": 3 if name == "this run" else 1.5}))
    if benchmark is not None:
        fig.add_trace(go.Scatter(x=x, y=benchmark[idx], name="benchmark", mode="lines",
                                 line={"dash": "dot", "color": "#888"}))
    return _layout(fig, "Equity of the comparison runs" + downsample_note(equity.shape[0], idx.shape[0]),
                   "equity", True)


def drawdown(values: Float64Array) -> Float64Array:
    """Return the drawdown :math:`V_t / \\max_{s \\le t} V_s - 1` of an equity curve (NaNs carried).

    Examples
    --------
    >>> drawdown(np.array([1.0, 1.2, 0.9, 1.3])).round(3).tolist()
    [0.0, 0.0, -0.25, 0.0]
    """
    peak = np.fmax.accumulate(values)
    return np.asarray(values / peak - 1.0, dtype=np.float64)


def drawdown_figure(
    timestamps: Int64Array, equity: Float64Array, benchmark: Float64Array | None, max_points: int = MAX_POINTS
) -> go.Figure:
    """Return the drawdown of the strategy (filled) and of the benchmark (line)."""
    dd = drawdown(equity)
    idx = extreme_indices(dd, max_points)
    x = plot_times(timestamps[idx])
    fig = go.Figure(go.Scatter(x=x, y=dd[idx], name="strategy", fill="tozeroy", mode="lines"))
    if benchmark is not None:
        fig.add_trace(go.Scatter(x=x, y=drawdown(benchmark)[idx], name="benchmark", mode="lines"))
    fig.update_yaxes(tickformat=".1%")
    return _layout(fig, "Drawdown" + downsample_note(dd.shape[0], idx.shape[0]), "drawdown", True)


def period_returns_figure(timestamps: Int64Array, equity: Float64Array) -> tuple[go.Figure, PeriodReturns]:
    """Return a monthly-returns heatmap (year x month), or daily returns when the run is under two months.

    The heatmap's ``z`` holds returns as fractions (NaN where a month is outside the run).
    """
    if not covers_two_months(timestamps):
        daily = period_returns(timestamps, equity, "day")
        fig = go.Figure(go.Bar(x=list(daily.periods.strftime("%Y-%m-%d")), y=daily.returns, name="daily return",
                               marker_color=np.where(daily.returns >= 0, "#2ca02c", "#d62728")))
        fig.update_yaxes(tickformat=".2%")
        return _layout(fig, "Daily returns (the run covers less than two months, so daily instead of monthly)",
                       "return", True), daily
    monthly = period_returns(timestamps, equity, "month")
    years = np.unique(monthly.periods.year)
    z = np.full((years.shape[0], 12), np.nan)
    z[np.searchsorted(years, monthly.periods.year), monthly.periods.month - 1] = monthly.returns
    text = np.where(np.isnan(z), "", np.char.mod("%.2f%%", np.nan_to_num(z) * 100.0))
    fig = go.Figure(go.Heatmap(z=z, x=list(_MONTHS), y=[str(y) for y in years], text=text,
                               texttemplate="%{text}", colorscale="RdYlGn", zmid=0.0,
                               hovertemplate="%{y} %{x}: %{z:.2%}<extra></extra>",
                               colorbar={"tickformat": colorbar_format(z)}))
    fig.update_yaxes(autorange="reversed", type="category")
    return _layout(fig, "Monthly returns (month-end equity)", "year"), monthly


def exposure_figure(
    timestamps: Int64Array, weights: Float64Array, sectors: Sequence[str], max_points: int = MAX_POINTS
) -> go.Figure:
    """Return net weight by sector over time as a stacked area chart."""
    labels = np.asarray(sectors, dtype=object)
    names, codes = np.unique(labels.astype(str), return_inverse=True)
    indicator = np.zeros((weights.shape[1], names.shape[0]))
    indicator[np.arange(weights.shape[1]), codes] = 1.0
    idx = stride_indices(weights.shape[0], max_points)
    by_sector = np.nan_to_num(weights[idx]) @ indicator
    x = plot_times(timestamps[idx])
    fig = go.Figure([go.Scatter(x=x, y=by_sector[:, j], name=str(name), stackgroup="weights", mode="lines")
                     for j, name in enumerate(names)])
    fig.update_yaxes(tickformat=".0%")
    note = downsample_note(weights.shape[0], idx.shape[0]).replace("bucket min/max kept", "evenly spaced")
    return _layout(fig, "Weight by sector" + note, "weight", True)


def beta_figure(
    timestamps: Int64Array, beta: Float64Array, band: tuple[float, float] | None, max_points: int = MAX_POINTS
) -> go.Figure:
    """Return portfolio beta over time, with the allowed band shaded when given."""
    idx = extreme_indices(_filled(beta), max_points)
    fig = go.Figure(go.Scatter(x=plot_times(timestamps[idx]), y=beta[idx], name="beta", mode="lines"))
    if band is not None:
        fig.add_hrect(y0=band[0], y1=band[1], fillcolor="green", opacity=0.08, line_width=0)
    return _layout(fig, "Portfolio beta" + downsample_note(beta.shape[0], idx.shape[0]), "beta", True)


def colorbar_format(z: Float64Array) -> str:
    """A percent format with enough decimals that the colour bar's ticks differ (not all "0%").

    >>> colorbar_format(np.array([0.2, -0.1])), colorbar_format(np.array([0.004, np.nan]))
    ('.0%', '.2%')
    >>> colorbar_format(np.array([np.nan]))
    '.1%'
    """
    finite = np.abs(z[np.isfinite(z)])
    span = float(finite.max()) if finite.size else 0.0
    if span == 0.0:
        return ".1%"
    decimals = int(np.clip(np.ceil(-np.log10(span)) - 1, 0, 3))  # ticks ~ span/5 need this many decimals
    return f".{decimals}%"


def exposure_cash_figure(timestamps: Int64Array, weights: Float64Array, cash_fraction: Float64Array | None,
                         max_points: int = MAX_POINTS) -> go.Figure:
    """Return gross exposure (sum |w|), net exposure (sum w) and cash (fraction of equity) over time."""
    idx = stride_indices(weights.shape[0], max_points)
    w = np.nan_to_num(weights[idx])
    x = plot_times(timestamps[idx])
    fig = go.Figure([go.Scatter(x=x, y=np.abs(w).sum(axis=1), name="gross exposure", mode="lines"),
                     go.Scatter(x=x, y=w.sum(axis=1), name="net exposure", mode="lines")])
    if cash_fraction is not None:
        fig.add_trace(go.Scatter(x=x, y=cash_fraction[idx], name="cash", mode="lines", line={"dash": "dot"}))
    fig.update_yaxes(tickformat=".0%")
    note = downsample_note(weights.shape[0], idx.shape[0]).replace("bucket min/max kept", "evenly spaced")
    return _layout(fig, "Gross and net exposure, cash (fraction of equity)" + note, "fraction of equity", True)
