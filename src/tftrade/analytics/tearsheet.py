"""Self-contained HTML tearsheet of a backtest (plotly, works offline).

:func:`render_tearsheet` writes one HTML file with plotly.js inlined (no CDN, no
network), in this order: headline metrics (strategy vs benchmark), equity vs benchmark
(linear/log switch), drawdown, monthly returns (daily when the run covers less than two
months), exposures (weight by sector, beta), forecast fan chart, variable importance,
sentiment vs price, Brinson attribution, trades (last 500, with rationale), risk-gate
events, notes. An optional section whose input is ``None`` or empty is replaced by a
line saying it is absent. Series longer than 5,000 points (1,000 per ticker in the
per-ticker charts) are downsampled and the chart says so. The file is written
atomically (temporary file in the same directory, then rename), so a failed render
never leaves a half-written or clobbered report.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from html import escape
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from tftrade.analytics.errors import AnalyticsError
from tftrade.analytics.tearsheet_charts import (
    MAX_POINTS,
    beta_figure,
    drawdown_figure,
    equity_figure,
    exposure_figure,
    period_returns_figure,
)
from tftrade.analytics.tearsheet_data import TearsheetData
from tftrade.analytics.tearsheet_model_charts import (
    attribution_figure,
    forecast_fan_figure,
    importance_figure,
    most_traded,
    sentiment_figure,
)
from tftrade.analytics.tearsheet_tables import MAX_ROWS, attribution_table, gate_table, metrics_table, trades_table

__all__ = ["SECTION_TITLES", "TearsheetData", "absent_line", "build_html", "render_tearsheet"]

SECTION_TITLES = (
    "Headline metrics", "Equity vs benchmark", "Drawdown", "Period returns", "Exposures", "Forecast fan chart",
    "Variable importance", "Sentiment vs price", "Attribution", "Trades", "Risk-gate events", "Notes",
)

_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 36px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #e0e0e0; padding: 3px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } thead th { background: #f5f5f5; }
.absent { color: #888; font-style: italic; } .scroll { max-height: 480px; overflow-y: auto; }
.meta { color: #666; font-size: 13px; }
"""


def absent_line(title: str, reason: str) -> str:
    """Return the line that replaces an optional section without input.

    Examples
    --------
    >>> absent_line("Trades", "no trades")
    '<p class="absent">Trades: absent (no trades).</p>'
    """
    return f'<p class="absent">{escape(title)}: absent ({escape(reason)}).</p>'


def _figure(fig: go.Figure) -> str:
    html: str = fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False,
                                                                            "responsive": True})
    return html


def _section(title: str, body: str) -> str:
    anchor = title.lower().replace(" ", "-")
    return f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>{body}</section>'


def _metrics(d: TearsheetData) -> str:
    return metrics_table(d.metrics, d.benchmark_metrics)


def _equity(d: TearsheetData) -> str:
    return _figure(equity_figure(d.timestamps, np.asarray(d.equity, dtype=np.float64), _bench(d), MAX_POINTS))


def _drawdown(d: TearsheetData) -> str:
    return _figure(drawdown_figure(d.timestamps, np.asarray(d.equity, dtype=np.float64), _bench(d), MAX_POINTS))


def _periods(d: TearsheetData) -> str:
    fig, _ = period_returns_figure(d.timestamps, np.asarray(d.equity, dtype=np.float64))
    return _figure(fig)


def _exposures(d: TearsheetData) -> str:
    weights = np.asarray(d.weights, dtype=np.float64)
    parts = [_figure(exposure_figure(d.timestamps, weights, d.sectors, MAX_POINTS)) if weights.shape[1]
             else absent_line("Weight by sector", "no tickers")]
    if d.beta is None:
        parts.append(absent_line("Portfolio beta", "no beta series"))
    else:
        parts.append(_figure(beta_figure(d.timestamps, np.asarray(d.beta, dtype=np.float64), d.beta_band, MAX_POINTS)))
    return "".join(parts)


def _forecasts(d: TearsheetData) -> str:
    if d.forecasts is None or d.forecasts.empty:
        return absent_line("Forecast fan chart", "no forecasts")
    tickers = most_traded(d.trades, d.forecasts["ticker"].astype(str).unique())
    note = f'<p class="meta">Showing the {len(tickers)} most traded tickers with forecasts (at most 20).</p>'
    return note + _figure(forecast_fan_figure(d.forecasts, tickers))


def _importance(d: TearsheetData) -> str:
    if d.importance is None or not any(d.importance.values()):
        return absent_line("Variable importance", "no importance given")
    return _figure(importance_figure(d.importance))


def _sentiment(d: TearsheetData) -> str:
    if d.sentiment is None or d.sentiment.empty:
        return absent_line("Sentiment vs price", "no sentiment series")
    tickers = most_traded(d.trades, d.sentiment["ticker"].astype(str).unique())
    return _figure(sentiment_figure(d.sentiment, tickers))


def _attribution(d: TearsheetData) -> str:
    if d.attribution is None or not d.attribution.sectors:
        return absent_line("Attribution", "no attribution given")
    return attribution_table(d.attribution) + _figure(attribution_figure(d.attribution))


def _trades(d: TearsheetData) -> str:
    if d.trades.empty:
        return absent_line("Trades", "no trades")
    shown = min(len(d.trades), MAX_ROWS)
    meta = f'<p class="meta">{len(d.trades):,} trades; the last {shown:,} are listed.</p>'
    return meta + f'<div class="scroll">{trades_table(d.trades, MAX_ROWS)}</div>'


def _gate(d: TearsheetData) -> str:
    if d.gate_events is None or d.gate_events.empty:
        return absent_line("Risk-gate events", "no gate events")
    shown = min(len(d.gate_events), MAX_ROWS)
    meta = f'<p class="meta">{len(d.gate_events):,} events; the last {shown:,} are listed.</p>'
    return meta + f'<div class="scroll">{gate_table(d.gate_events, MAX_ROWS)}</div>'


def _notes(d: TearsheetData) -> str:
    if not d.notes:
        return absent_line("Notes", "no notes")
    return "<ul>" + "".join(f"<li>{escape(str(n))}</li>" for n in d.notes) + "</ul>"


_BUILDERS: tuple[Callable[[TearsheetData], str], ...] = (
    _metrics, _equity, _drawdown, _periods, _exposures, _forecasts,
    _importance, _sentiment, _attribution, _trades, _gate, _notes,
)


def _bench(d: TearsheetData) -> np.ndarray | None:
    return None if d.benchmark is None else np.asarray(d.benchmark, dtype=np.float64)


def build_html(data: TearsheetData) -> str:
    """Return the complete tearsheet HTML document for ``data`` (plotly.js inlined)."""
    start, end = (np.datetime64(int(t), "ns") for t in (data.timestamps[0], data.timestamps[-1]))
    meta = (f'<p class="meta">{start} – {end} UTC · {len(data.timestamps):,} steps · {len(data.tickers)} tickers · '
            f"{data.periods_per_year:g} periods per year</p>")
    sections = "".join(_section(title, build(data)) for title, build in zip(SECTION_TITLES, _BUILDERS, strict=True))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(data.title)}</title>'
            f'<style>{_STYLE}</style><script type="text/javascript">{get_plotlyjs()}</script></head>'
            f"<body><h1>{escape(data.title)}</h1>{meta}{sections}</body></html>")


def render_tearsheet(data: TearsheetData, path: Path) -> Path:
    """Write the tearsheet of ``data`` to ``path`` atomically and return ``path``.

    The document is built in memory first, then written to a temporary file in the
    target directory and renamed over ``path``; on any failure an existing file at
    ``path`` is left untouched and the temporary file is removed.

    Raises
    ------
    AnalyticsError
        If ``path`` is a directory or cannot be written.
    """
    target = Path(path)
    if target.is_dir():
        raise AnalyticsError(f"tearsheet path {target} is a directory; give a file name such as report.html")
    html = build_html(data)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise AnalyticsError(f"cannot write the tearsheet to {target}: {exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(html)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise AnalyticsError(f"cannot write the tearsheet to {target}: {exc}") from exc
        raise
    return target
