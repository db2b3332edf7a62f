"""Plotly figures of the tearsheet's model sections: forecast fan, variable importance, sentiment, attribution.

Per-ticker charts hold one group of traces per ticker and a dropdown that shows one
group at a time; they are capped to the most traded tickers (:func:`most_traded`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tftrade.analytics.attribution import BrinsonResult
from tftrade.analytics.downsample import stride_indices
from tftrade.analytics.tearsheet_charts import plot_times, session_rangebreaks

MAX_TICKERS = 20
#: Points kept per ticker in the per-ticker charts (up to ``MAX_TICKERS`` tickers each).
MAX_TICKER_POINTS = 1_000


def most_traded(trades: pd.DataFrame, candidates: Sequence[str], cap: int = MAX_TICKERS) -> list[str]:
    """Return up to ``cap`` of ``candidates``: most trades first, then alphabetical.

    Examples
    --------
    >>> trades = pd.DataFrame({"ticker": ["B", "A", "B", "C"]})
    >>> most_traded(trades, ["A", "B", "D"], cap=2)
    ['B', 'A']
    """
    counts = trades["ticker"].astype(str).value_counts() if len(trades) else pd.Series(dtype=np.int64)
    names = sorted({str(c) for c in candidates})
    return sorted(names, key=lambda t: (-int(counts.get(t, 0)), t))[:cap]


def _epoch_ns(column: pd.Series) -> npt.NDArray[np.int64]:
    """Return a datetime column (naive = UTC, or tz-aware) as epoch nanoseconds."""
    stamps = pd.to_datetime(column, utc=True).dt.as_unit("ns")
    return np.asarray(stamps.astype("int64").to_numpy(), dtype=np.int64)


def _dropdown(fig: go.Figure, groups: list[tuple[str, int]]) -> go.Figure:
    """Add a dropdown showing one ticker's traces at a time; ``groups`` = (label, trace count)."""
    total = sum(k for _, k in groups)
    buttons, start = [], 0
    for label, k in groups:
        visible = [start <= i < start + k for i in range(total)]
        buttons.append({"label": label, "method": "update", "args": [{"visible": visible}]})
        start += k
    for i, trace in enumerate(fig.data):
        trace.visible = i < groups[0][1]
    fig.update_layout(updatemenus=[{"buttons": buttons, "x": 0.0, "xanchor": "left", "y": 1.15, "yanchor": "top"}])
    return fig


def _ticker_rows(frame: pd.DataFrame, ticker: str, time_col: str, max_points: int) -> tuple[pd.DataFrame, Any, bool]:
    """One ticker's rows in time order, evenly thinned to ``max_points``: (rows, plot times, thinned?)."""
    rows = frame[frame["ticker"].astype(str) == ticker].sort_values(time_col)
    idx = stride_indices(len(rows), max_points)
    thinned = bool(idx.shape[0] < len(rows))
    rows = rows.iloc[idx]
    return rows, plot_times(_epoch_ns(rows[time_col])), thinned


def forecast_fan_figure(
    forecasts: pd.DataFrame, tickers: Sequence[str], max_points: int = MAX_TICKER_POINTS
) -> go.Figure:
    """Return per-ticker q10–q90 bands, the median and realised returns at the shortest horizon."""
    horizon = int(forecasts["horizon"].min())
    frame = forecasts[forecasts["horizon"] == horizon]
    fig, groups, dropped = go.Figure(), [], False
    for ticker in tickers:
        rows, x, thinned = _ticker_rows(frame, ticker, "as_of", max_points)
        dropped |= thinned
        fig.add_trace(go.Scatter(x=x, y=rows["q90"], name=f"{ticker} q90", mode="lines", line={"width": 0},
                                 showlegend=False))
        fig.add_trace(go.Scatter(x=x, y=rows["q10"], name=f"{ticker} q10–q90", mode="lines", line={"width": 0},
                                 fill="tonexty", fillcolor="rgba(31,119,180,0.25)"))
        fig.add_trace(go.Scatter(x=x, y=rows["q50"], name=f"{ticker} q50", mode="lines"))
        fig.add_trace(go.Scatter(x=x, y=rows["realised"], name=f"{ticker} realised", mode="markers",
                                 marker={"size": 4, "color": "black"}))
        groups.append((ticker, 4))
    title = f"Forecast fan chart, horizon {horizon} (log returns)"
    title += " (downsampled, evenly spaced)" if dropped else ""
    fig.update_layout(title=title, template="plotly_white", height=440, yaxis_title="log return")
    fig.update_xaxes(rangebreaks=session_rangebreaks(_epoch_ns(frame["as_of"])))
    return _dropdown(fig, groups)


def importance_figure(importance: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """Return horizontal bars of variable importance, one panel per non-empty group."""
    groups = [(g, dict(v)) for g, v in importance.items() if v]
    fig = make_subplots(rows=1, cols=len(groups), subplot_titles=[g for g, _ in groups], horizontal_spacing=0.12)
    for col, (_, shares) in enumerate(groups, start=1):
        ordered = sorted(shares.items(), key=lambda kv: kv[1])
        fig.add_trace(go.Bar(x=[v for _, v in ordered], y=[k for k, _ in ordered], orientation="h",
                             showlegend=False), row=1, col=col)
    height = 160 + 22 * max(len(v) for _, v in groups)
    fig.update_layout(title="Variable importance (share of selection weight)", template="plotly_white", height=height)
    return fig


def sentiment_figure(
    sentiment: pd.DataFrame, tickers: Sequence[str], max_points: int = MAX_TICKER_POINTS
) -> go.Figure:
    """Return per-ticker price (left axis) and average sentiment (right axis) on a session index.

    The x axis counts the distinct timestamps of the frame (trading time: nights, weekends and
    holidays take no width), labelled with New York times.
    """
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    groups, dropped = [], False
    grid = np.unique(_epoch_ns(sentiment["timestamp"]))
    for ticker in tickers:
        rows, _, thinned = _ticker_rows(sentiment, ticker, "timestamp", max_points)
        dropped |= thinned
        x = np.searchsorted(grid, _epoch_ns(rows["timestamp"]))
        fig.add_trace(go.Scatter(x=x, y=rows["price"], name=f"{ticker} price", mode="lines"), secondary_y=False)
        fig.add_trace(go.Scatter(x=x, y=rows["sentiment"], name=f"{ticker} sentiment", mode="lines",
                                 line={"dash": "dot"}), secondary_y=True)
        groups.append((ticker, 2))
    fig.update_yaxes(title_text="price", secondary_y=False)
    fig.update_yaxes(title_text="sentiment", secondary_y=True)
    if grid.size:
        ticks = np.unique(np.linspace(0, grid.size - 1, min(8, grid.size)).round().astype(np.int64))
        fig.update_xaxes(tickmode="array", tickvals=ticks.tolist(), ticktext=plot_times(grid[ticks]).tolist())
    title = "Sentiment vs price" + (" (downsampled, evenly spaced)" if dropped else "")
    fig.update_layout(title=title, template="plotly_white", height=440)
    return _dropdown(fig, groups)


def attribution_figure(result: BrinsonResult) -> go.Figure:
    """Return grouped bars of Brinson allocation, selection and interaction per sector."""
    sectors = list(result.sectors)
    fig = go.Figure([go.Bar(x=sectors, y=result.allocation, name="allocation"),
                     go.Bar(x=sectors, y=result.selection, name="selection"),
                     go.Bar(x=sectors, y=result.interaction, name="interaction")])
    fig.update_layout(barmode="group", template="plotly_white", height=400, yaxis_tickformat=".2%",
                      title=f"Brinson attribution (active return {result.active_return:.2%})")
    return fig

