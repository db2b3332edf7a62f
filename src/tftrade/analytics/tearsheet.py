"""Self-contained HTML tearsheet of a backtest (plotly, works offline).

:func:`render_tearsheet` writes one HTML file with plotly.js inlined (no CDN, no
network), in this order: headline metrics (strategy vs benchmark), equity vs benchmark
(linear/log switch), drawdown, monthly returns (daily when the run covers less than two
months), exposures (weight by sector, beta), costs, tax alpha (the run summary's
``tax_alpha``: after- vs pre-tax return, short- and long-term gains, washed and deferred
losses), forecast fan chart, variable importance, sentiment vs price, Brinson attribution,
trades (last 500, with rationale), risk-gate events, notes. An optional section whose
input is ``None`` or empty is replaced by a line saying it is absent. Series longer than
5,000 points (1,000 per ticker in the per-ticker charts) are downsampled and the chart
says so. The file is written atomically (temporary file in the same directory, then
rename), so a failed render never leaves a half-written or clobbered report.
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
from tftrade.analytics.periodic_returns import period_returns
from tftrade.analytics.tearsheet_charts import (
    MAX_POINTS,
    beta_figure,
    comparison_figure,
    drawdown_figure,
    equity_figure,
    exposure_cash_figure,
    exposure_figure,
    period_returns_figure,
    plot_times,
)
from tftrade.analytics.tearsheet_data import TearsheetData
from tftrade.analytics.tearsheet_model_charts import (
    attribution_figure,
    forecast_fan_figure,
    importance_figure,
    most_traded,
    sentiment_figure,
)
from tftrade.analytics.tearsheet_tables import (
    ANNUALISED,
    MAX_ROWS,
    attribution_table,
    comparison_table,
    costs_exposure_table,
    gate_table,
    metrics_table,
    settings_table,
    tax_alpha_table,
    trades_table,
)

__all__ = ["SECTION_TITLES", "TearsheetData", "absent_line", "build_html", "render_tearsheet"]

SECTION_TITLES = (
    "Headline metrics", "Equity vs benchmark", "Drawdown", "Period returns", "Exposures",
    "Costs, exposure and turnover", "Tax alpha", "Where the return comes from", "Forecast fan chart",
    "Variable importance", "Sentiment vs price", "Attribution", "Trades", "Risk-gate events", "Settings", "Notes",
)

_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 36px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #e0e0e0; padding: 3px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } thead th { background: #f5f5f5; }
.absent { color: #888; font-style: italic; } .scroll { max-height: 480px; overflow-y: auto; }
.meta { color: #666; font-size: 13px; }
.headline { font-size: 17px; margin: 10px 0; } .warn { background: #fff4e5; border-left: 4px solid #f0a020;
padding: 6px 10px; } .context { background: #eef4fb; border-left: 4px solid #4a7fc0; padding: 6px 10px; }
details summary { cursor: pointer; color: #444; margin: 8px 0; }
.banner { background: #fdecea; border-left: 6px solid #c62828; color: #611a15; font-size: 17px; padding: 10px 14px;
margin: 14px 0; }
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


def sessions_of(d: TearsheetData) -> float:
    """Trading sessions of the run: ``d.sessions``, else the distinct New York dates of the timestamps."""
    if d.sessions is not None:
        return float(d.sessions)
    return float(len(set(str(x)[:10] for x in plot_times(d.timestamps))))


def _metrics(d: TearsheetData) -> str:
    sessions = sessions_of(d)
    total = d.metrics.get("total_return", float(d.equity[-1] / d.equity[0] - 1.0))
    bench = None if d.benchmark_metrics is None else d.benchmark_metrics.get("total_return")
    gross = None if d.summary is None else d.summary.get("gross_total_return")
    line = f"Total return <b>{total:+.2%}</b> net of costs"
    line += "" if gross is None else f" ({float(gross):+.2%} gross)"
    if bench is not None and np.isfinite(bench):
        line += f" vs the benchmark's {bench:+.2%}: active {total - bench:+.2%}"
    line += f", over {_count(sessions)} trading sessions ({_span(d)})."
    head = f'<p class="headline">{line}</p>'
    effect = None if d.summary is None else (d.summary.get("stops_effect") or {}).get("text")
    if effect:
        head += f'<p class="headline">{escape(str(effect))}.</p>'
    if sessions >= d.annualise_min_sessions:
        return head + metrics_table(d.metrics, d.benchmark_metrics, turnover_periods=d.periods_per_year)
    days = period_returns(d.timestamps, np.asarray(d.equity, dtype=np.float64), "day").returns
    per = (1.0 + total) ** (1.0 / max(sessions, 1.0)) - 1.0
    warn = (f'<p class="warn">This run spans {_count(sessions)} sessions, fewer than {d.annualise_min_sessions}: '
            "returns are reported for the period and per session, not annualised. Annualised figures extrapolate "
            "a short run to a year and are shown apart, for reference only.</p>")
    per_day = (f"<ul><li>period return {total:+.2%}</li><li>per session (geometric mean) {per:+.3%}</li>"
               f"<li>session returns: mean {days.mean():+.3%}, standard deviation "
               f"{(days.std(ddof=1) if days.size > 1 else float('nan')):.3%}, best {days.max():+.2%}, "
               f"worst {days.min():+.2%}</li></ul>") if days.size else ""
    period_table = metrics_table(d.metrics, d.benchmark_metrics, exclude=ANNUALISED,
                                 turnover_periods=d.periods_per_year / 252.0, per_session=True)
    annual = metrics_table(d.metrics, d.benchmark_metrics, only=ANNUALISED)
    return (head + warn + per_day + period_table
            + f"<details><summary>Annualised figures (extrapolated from {_count(sessions)} sessions)</summary>"
            + annual + "</details>")


def _count(sessions: float) -> str:
    """Sessions as a reader counts them: whole numbers plain, fractions to one decimal.

    >>> _count(6.0), _count(4.958974), _count(1259.0)
    ('6', '5.0', '1,259')
    """
    return f"{sessions:,.0f}" if float(sessions).is_integer() else f"{sessions:,.1f}"


def _span(d: TearsheetData) -> str:
    first, last = plot_times(np.asarray([d.timestamps[0], d.timestamps[-1]]))
    return f"{first} → {last}"


def _costs(d: TearsheetData) -> str:
    if d.summary is None:
        return absent_line("Costs, exposure and turnover", "no run summary")
    parts = [costs_exposure_table(d.summary, d.periods_per_year)]
    if d.cash is not None:
        frac = np.asarray(d.cash, dtype=np.float64) / np.asarray(d.equity, dtype=np.float64)
        parts.append(_figure(exposure_cash_figure(d.timestamps, np.asarray(d.weights, dtype=np.float64), frac)))
    return "".join(parts)


def _tax(d: TearsheetData) -> str:
    tax = None if d.summary is None else d.summary.get("tax_alpha")
    if not tax:
        return absent_line("Tax alpha", "no tax figures in the run's summary (`tftrade report` adds them)")
    if tax.get("error"):
        return absent_line("Tax alpha", str(tax["error"]))
    return tax_alpha_table(tax)


_VARIANTS = {
    "stops": "stops off; the same forecasts and sentiment (nothing retrained)",
    "ridge": "price-only ridge forecasts (pooled ridge of the h-bar return on 5 lagged returns, fitted on the bars "
             "before the first forecast) and no sentiment in the strategy",
    "no-sentiment": "the TFT <b>retrained</b> without its sentiment inputs (same preset, epochs, windows and seed) "
                    "and no sentiment in the strategy",
}


def _comparison(d: TearsheetData) -> str:
    if not d.comparison:
        return absent_line("Where the return comes from",
                           "no comparison runs; `tftrade backtest --compare stops,ridge,no-sentiment` makes them")
    keys = [str(r.get("key")) for r in d.comparison if r.get("key") in _VARIANTS]
    what = "".join(f"<li><i>{escape(str(r.get('variant')))}</i>: {_VARIANTS[str(r.get('key'))]}</li>"
                   for r in d.comparison if str(r.get("key")) in keys)
    bench = d.comparison[0].get("benchmark_total_return")
    bench_text = "" if bench is None else f" The benchmark returned {float(bench):+.2%} over the same bars."
    chart = ""
    if d.comparison_equity:
        labels = {str(r.get("key")): str(r.get("variant")) for r in d.comparison}
        others = {labels.get(k, k): np.asarray(v, dtype=np.float64) for k, v in d.comparison_equity.items()}
        chart = _figure(comparison_figure(d.timestamps, np.asarray(d.equity, dtype=np.float64), others, _bench(d)))
    return ('<p class="meta">The same bars, costs and limits; each row changes one thing.' + bench_text + "</p>"
            + (f"<ul class=\"meta\">{what}</ul>" if what else "") + comparison_table(d.comparison) + chart)


def _settings(d: TearsheetData) -> str:
    settings = None if d.summary is None else d.summary.get("settings")
    if not settings:
        return absent_line("Settings", "no recorded settings")
    return settings_table(settings)


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
    _metrics, _equity, _drawdown, _periods, _exposures, _costs, _tax, _comparison, _forecasts,
    _importance, _sentiment, _attribution, _trades, _gate, _settings, _notes,
)


def _bench(d: TearsheetData) -> np.ndarray | None:
    return None if d.benchmark is None else np.asarray(d.benchmark, dtype=np.float64)


def build_html(data: TearsheetData) -> str:
    """Return the complete tearsheet HTML document for ``data`` (plotly.js inlined)."""
    meta = (f'<p class="meta">{_span(data)} (New York time) · {len(data.timestamps):,} bars · '
            f"{len(data.tickers)} tickers · {data.periods_per_year:,.0f} bars per year · charts on trading time "
            "(nights, weekends and holidays take no width)</p>")
    banner = None if data.summary is None else data.summary.get("banner")
    if banner:
        meta = f'<p class="banner" role="alert"><b>{escape(str(banner))}</b></p>' + meta
    meta += "".join(f'<p class="context">{escape(c)}</p>' for c in data.context)
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
