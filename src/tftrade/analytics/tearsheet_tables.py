"""HTML tables of the tearsheet: metrics, trades, risk-gate events, attribution.

Cells are HTML-escaped; numeric metric cells carry the exact value in ``data-value``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape

import pandas as pd

from tftrade.analytics.attribution import BrinsonResult
from tftrade.analytics.metric_labels import (  # noqa: F401  (PERCENT_METRICS: re-exported)
    PERCENT_METRICS,
    TURNOVER_PER_SESSION,
    format_metric,
    format_number,
    metric_label,
)
from tftrade.analytics.metrics import METRIC_NAMES
from tftrade.analytics.tearsheet_charts import plot_times

MAX_ROWS = 500




def _table(header: Sequence[str], rows: Iterable[Sequence[str]], css: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(text: object) -> str:
    return f"<td>{escape(str(text))}</td>"


def _metric_cell(name: str, value: float | None) -> str:
    if value is None:
        return '<td class="num">–</td>'
    return f'<td class="num" data-value="{float(value)!r}">{escape(format_metric(name, value))}</td>'


ANNUALISED = ("annual_return", "annual_volatility", "sharpe", "sortino", "calmar", "alpha", "tracking_error",
              "information_ratio")


def metrics_table(strategy: Mapping[str, float], benchmark: Mapping[str, float] | None,
                  only: Sequence[str] | None = None, exclude: Sequence[str] = (),
                  turnover_periods: float | None = None, per_session: bool = False) -> str:
    """Return the headline metrics, strategy vs benchmark (total return first, then the standard ones, then extras).

    Rows carry human labels with units (:func:`~tftrade.analytics.metric_labels.metric_label`); the
    metric's key is the row's ``data-key``. ``only`` keeps just those names; ``exclude`` drops names.
    ``turnover`` (one-way, per bar) is shown per year, times ``turnover_periods`` (bars per year), or per
    session when ``per_session`` (``turnover_periods`` is then bars per session); without
    ``turnover_periods`` it is left out.
    """
    names = [m for m in METRIC_NAMES if m in strategy] + [m for m in strategy if m not in METRIC_NAMES]
    names = [m for m in names if (only is None or m in only) and m not in exclude]
    header = ["metric", "strategy"] + (["benchmark"] if benchmark is not None else [])
    rows = []
    for name in names:
        value, bench = strategy[name], None if benchmark is None else benchmark.get(name)
        label = metric_label(name)
        if name == "turnover":
            if turnover_periods is None:
                continue
            value = value * turnover_periods
            bench = None if bench is None else bench * turnover_periods
            label = TURNOVER_PER_SESSION if per_session else label
        row = [f'<td data-key="{escape(name)}">{escape(label)}</td>', _metric_cell(name, value)]
        if benchmark is not None:
            row.append(_metric_cell(name, bench))
        rows.append(row)
    return _table(header, rows, "metrics")


def trades_table(trades: pd.DataFrame, limit: int = MAX_ROWS) -> str:
    """Return the last ``limit`` trades (by timestamp, newest last) with their rationale."""
    frame = trades.sort_values("timestamp", kind="stable").tail(limit)
    when = _times(frame["timestamp"])
    rows = [[_cell(w), _cell(r.ticker), _cell(r.action), _cell(format_number(float(r.quantity), 2)),
             _cell(format_number(float(r.price), 4)), _cell(format_number(float(r.pnl), 2)), _cell(r.rationale)]
            for w, r in zip(when, frame.itertuples(index=False), strict=True)]
    return _table(["time (New York)", "ticker", "action", "quantity", "price", "P&L", "rationale"], rows, "trades")


def gate_table(events: pd.DataFrame, limit: int = MAX_ROWS) -> str:
    """Return a count of gate events by action and the last ``limit`` events with their reasons."""
    counts = events["action"].astype(str).value_counts().sort_index()
    summary = _table(["action", "events"], [[_cell(a), _cell(int(c))] for a, c in counts.items()], "gate-summary")
    frame = events.sort_values("timestamp", kind="stable").tail(limit)
    when = _times(frame["timestamp"])
    rows = [[_cell(w), _cell(r.ticker), _cell(r.action), _cell(_reasons(r.reasons))]
            for w, r in zip(when, frame.itertuples(index=False), strict=True)]
    return summary + _table(["time (New York)", "ticker", "action", "reasons"], rows, "gate")


def attribution_table(result: BrinsonResult) -> str:
    """Return Brinson effects per sector, their totals, the other parts, and the active return they add up to."""
    rows = [[_cell(s), _pct_cell(a), _pct_cell(b), _pct_cell(c)]
            for s, a, b, c in zip(result.sectors, result.allocation, result.selection, result.interaction, strict=True)]
    tot = result.totals()
    rows.append([_cell("total"), _pct_cell(tot["allocation"]), _pct_cell(tot["selection"]),
                 _pct_cell(tot["interaction"])])
    effects = _table(["sector", "allocation", "selection", "interaction"], rows, "attribution")
    parts = [("allocation", tot["allocation"]), ("selection", tot["selection"]), ("interaction", tot["interaction"]),
             *result.other]
    summary_rows = [[_cell(name), _pct_cell(value)] for name, value in parts]
    summary_rows.append([_cell("sum of the parts"), _pct_cell(sum(v for _, v in parts))])
    summary_rows.append([_cell("active return (headline)"), _pct_cell(result.active_return)])
    intro = f'<p class="meta">{escape(result.description)}</p>' if result.description else ""
    return intro + _table(["part", "contribution"], summary_rows, "attribution-parts") + effects


def _pct_cell(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '<td class="num">n/a</td>'
    shown = float(value) if abs(float(value)) >= 0.5 * 10.0 ** -(digits + 2) else 0.0  # no "-0.00%"
    return f'<td class="num" data-value="{float(value)!r}">{shown:+.{digits}%}</td>'


def _money_cell(value: float | None) -> str:
    if value is None:
        return '<td class="num">n/a</td>'
    return f'<td class="num" data-value="{float(value)!r}">{float(value):,.2f}</td>'


def key_value_table(rows: Sequence[tuple[str, str, str]], css: str = "kv") -> str:
    """Return a three-column table of (item, value, what it means) rows; values are pre-formatted HTML cells."""
    return _table(["item", "value", "meaning"], [[_cell(a), b, _cell(c)] for a, b, c in rows], css)


def _turnover_cell(per_bar: float, periods_per_year: float | None) -> str:
    if periods_per_year is None or not math.isfinite(per_bar):
        return f'<td class="num">{per_bar:.2%} per bar</td>'
    shown = f"{per_bar * periods_per_year:.2f}× capital / year ({per_bar:.2%} per bar)"
    return f'<td class="num" data-value="{per_bar!r}">{shown}</td>'


def costs_exposure_table(summary: Mapping[str, object], periods_per_year: float | None = None) -> str:
    """Return exposure, cash, turnover, costs (gross vs net), stops, their effect and the risk-free rate of a
    run's summary (``periods_per_year``: bars per year, to show turnover per year)."""
    ex = summary.get("exposure") or {}
    co = summary.get("costs") or {}
    st = summary.get("stops") or {}
    effect = summary.get("stops_effect") or {}
    assert isinstance(ex, Mapping) and isinstance(co, Mapping) and isinstance(st, Mapping)
    assert isinstance(effect, Mapping)
    rows: list[tuple[str, str, str]] = [
        ("total return, net of costs", _pct_cell(_num(summary.get("total_return"))), "what the account made"),
        ("total return, gross of costs", _pct_cell(_num(summary.get("gross_total_return"))),
         "with every cost paid added back"),
        ("costs paid", _money_cell(_num(co.get("total"))),
         f"{_num(co.get('total_bps_of_initial_equity')):.1f} bps of initial equity"),
        ("  half-spread", _money_cell(_num(co.get("spread"))), "half the quoted spread on every fill"),
        ("  market impact", _money_cell(_num(co.get("impact"))), "square-root impact of the fill's size"),
        ("  regulatory fees", _money_cell(_num(co.get("fees"))), "SEC fee and FINRA TAF, sells only"),
        ("  commission", _money_cell(_num(co.get("commission"))), "broker commission"),
        ("gross exposure (mean)", _pct_cell(_num(ex.get("gross_mean"))), "sum of |weights|, fraction of equity"),
        ("net exposure (mean)", _pct_cell(_num(ex.get("net_mean"))), "sum of weights, fraction of equity"),
        ("cash (mean / final)",
         f'<td class="num">{_num(ex.get("cash_mean")):.1%} / {_num(ex.get("cash_final")):.1%}</td>',
         "fraction of equity held in cash: what the strategy left uninvested, "
         "including the cash sleeve when hard caps bind"),
        ("turnover (one-way)", _turnover_cell(_num(ex.get("turnover_per_bar")), periods_per_year),
         "½ Σ |Δw| summed over a year's bars: how many times the capital is traded per year"),
        ("traded notional",
         f'<td class="num">{_num(ex.get("traded_notional_x_mean_equity")):.2f}× mean equity</td>',
         "buys plus sells over the run"),
        ("stop-loss exits", f'<td class="num">{_num(st.get("stop_loss_exits")):.0f}</td>',
         f"realised P&L of the exited lots {_num(st.get('stop_loss_pnl')):,.2f}; traded "
         f"{_num(st.get('stop_loss_turnover')):.2f}× mean equity"),
        ("take-profit exits", f'<td class="num">{_num(st.get("take_profit_exits")):.0f}</td>',
         f"realised P&L {_num(st.get('take_profit_pnl')):,.2f}; traded "
         f"{_num(st.get('take_profit_turnover')):.2f}× mean equity. Realised P&L is the gain since entry, "
         "not what the stops added or cost: the cash they leave until the strategy buys again is not in it"
         + ("; their effect is the next row" if effect else "; compare a run with --compare stops")),
        *_effect_rows(effect),
        ("risk-free rate", _pct_cell(_num(summary.get("risk_free_rate"))),
         "used in Sharpe, Sortino and alpha (per year)"),
    ]
    return key_value_table(rows, "costs")


def settings_table(settings: Mapping[str, object]) -> str:
    """Return the effective risk, cost and stop settings of a run (section.key = value)."""
    rows = []
    for section in ("risk", "costs", "stops"):
        values = settings.get(section)
        if isinstance(values, Mapping):
            rows += [[_cell(f"{section}.{k}"), _cell(v)] for k, v in values.items()]
    return _table(["setting", "value"], rows, "settings")


def _effect_rows(effect: Mapping[str, object]) -> list[tuple[str, str, str]]:
    if not effect:
        return []
    ratio = effect.get("turnover_ratio")
    turnover = "n/a" if ratio is None else f"{_num(ratio):.2f}×"
    return [
        ("stops' effect on net return", _pct_cell(_num(effect.get("return_diff"))),
         f"this run {_num(effect.get('return_with')):+.2%} minus the same run without stops "
         f"{_num(effect.get('return_without')):+.2%}"),
        ("stops' effect on turnover", f'<td class="num">{turnover}</td>',
         f"traded notional {_num(effect.get('turnover_with')):.2f}× vs {_num(effect.get('turnover_without')):.2f}× "
         "mean equity without stops"),
        ("stops' effect on max drawdown", _pct_cell(_num(effect.get("max_drawdown_diff"))),
         f"{_num(effect.get('max_drawdown_with')):.2%} vs {_num(effect.get('max_drawdown_without')):.2%} "
         "without stops (negative: deeper)"),
    ]


def comparison_table(rows: Sequence[Mapping[str, object]]) -> str:
    """Return the same run under other forecasts, without sentiment or without stops, side by side."""
    body = []
    for r in rows:
        model = r.get("model")
        views = "–"
        if isinstance(model, Mapping):
            views = (f"{_num(model.get('views_share')):.0%} of forecasts" if model.get("gives_views")
                     else "none (traded the prior)")
        body.append([_cell(r.get("variant")), _pct_cell(_num(r.get("total_return"))),
                     _pct_cell(_num(r.get("gross_total_return"))), _pct_cell(_num(r.get("max_drawdown"))),
                     _num_cell(_num(r.get("turnover")), "{:.2f}×"), _cell(r.get("trades")),
                     _num_cell(_num(r.get("stop_exits")), "{:.0f}"), _money_cell(_num(r.get("costs"))),
                     _cell(views)])
    header = ["variant", "total return (net)", "gross", "max drawdown", "turnover (× mean equity)", "trades",
              "stop exits", "costs ($)", "model views"]
    return _table(header, body, "comparison")


def _num_cell(value: float, fmt: str) -> str:
    """A right-aligned number, ``–`` when missing (older runs' summaries lack some figures)."""
    return '<td class="num">–</td>' if not math.isfinite(value) else f'<td class="num">{fmt.format(value)}</td>'


def _num(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _times(values: pd.Series) -> list[str]:
    """Times of a table column as the charts and the subtitle show them: New York time, dates alone for daily bars."""
    stamps = pd.to_datetime(values, utc=True).dt.as_unit("ns")
    return [str(x) for x in plot_times(stamps.astype("int64").to_numpy())]


def _reasons(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return "; ".join(str(v) for v in value)
    return str(value)


def _money_text(value: object) -> str:
    """A money amount given as an exact decimal string (or number), with thousands separators."""
    from decimal import Decimal, InvalidOperation

    try:
        return f"{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return "n/a"


def _sum_money(parts: object) -> str:
    """The sum of a mapping's exact money strings (e.g. a carryover's short- and long-term parts)."""
    from decimal import Decimal, InvalidOperation

    try:
        return str(sum((Decimal(str(v)) for v in parts.values()), Decimal(0))) if isinstance(parts, Mapping) else "n/a"
    except InvalidOperation:
        return "n/a"


def tax_alpha_table(tax: Mapping[str, object]) -> str:
    """Return the tax-alpha section of a run: after- vs pre-tax return, gains by holding period,
    wash-sale losses (washed, still deferred), and one row per calendar year when the run spans several."""
    rates = tax.get("rates") or {}
    assert isinstance(rates, Mapping)
    st, lt = _num(rates.get("short_term")), _num(rates.get("long_term"))
    pre, post = _num(tax.get("pre_tax_return")), _num(tax.get("after_tax_return"))
    head = (f'<p class="headline">After tax <b>{post:+.2%}</b> vs <b>{pre:+.2%}</b> before tax: estimated tax '
            f"{escape(_money_text(tax.get('tax')))} ({_num(tax.get('tax_drag')):.2%} of initial equity) at "
            f"{st:.0%} on net short-term and {lt:.0%} on net long-term gains.</p>")
    money = '<td class="num">{}</td>'.format
    rows: list[tuple[str, str, str]] = [
        ("pre-tax return", _pct_cell(pre), "total return net of trading costs"),
        ("after-tax return", _pct_cell(post), "pre-tax return minus the estimated tax over initial equity"),
        ("estimated tax", money(escape(_money_text(tax.get("tax")))),
         "each calendar year's net gains taxed on their own" + (
             "; a net loss costs no tax (no carry-over)" if "loss_deducted" not in tax else
             f"; a net loss is deducted from ordinary income (at most {_money_text(tax.get('loss_limit'))} a "
             f"year, at {_num(rates.get('ordinary')):.0%}) and the rest carried over")),
        ("short-term gains", money(escape(_money_text(tax.get("short_term_gains")))),
         "net, lots held one year or less (after wash-sale adjustments)"),
        ("long-term gains", money(escape(_money_text(tax.get("long_term_gains")))), "net, lots held over a year"),
        ("losses washed", money(escape(_money_text(tax.get("disallowed_in_year")))),
         "losses disallowed by the wash-sale rule over the run (added to the replacement shares' basis)"),
        ("deferred losses", money(escape(_money_text(tax.get("deferred_losses")))),
         "washed losses still in open lots' basis at the end: deducted when those shares are sold"),
        *([("capital loss deducted", money(escape(_money_text(tax.get("loss_deducted")))),
            "net capital losses deducted from ordinary income (in the tax above as a benefit)"),
           ("loss carried forward", money(escape(_money_text(_sum_money(tax.get("carryover"))))),
            "net capital loss left to carry into the year after the run (short- and long-term)")]
          if "loss_deducted" in tax else []),
        *([("losses harvested", money(escape(_money_text(tax.get("harvested_losses")))),
            f"losses realised by {_num(tax.get('harvest_sales')):.0f} tax-loss harvesting sales")]
          if _num(tax.get("harvest_sales")) > 0 else []),
        ("sales", f'<td class="num">{_num(tax.get("sales")):.0f}</td>',
         f"lot dispositions ({escape(str(tax.get('method', 'fifo')))} relief)"
         + (f"; {_num(tax.get('skipped_short_trades')):.0f} short-sale trades outside the long-only lots"
            if _num(tax.get("skipped_short_trades")) > 0 else "")),
    ]
    out = head + key_value_table(rows, "tax")
    years = tax.get("years") or []
    assert isinstance(years, Sequence)
    if len(years) > 1:
        out += _table(["year", "short-term gains", "long-term gains", "losses washed", "sales", "tax"],
                      [[_cell(y.get("year")), money(escape(_money_text(y.get("short_term_gains")))),
                        money(escape(_money_text(y.get("long_term_gains")))),
                        money(escape(_money_text(y.get("disallowed")))), _cell(y.get("sales")),
                        money(escape(_money_text(y.get("tax"))))] for y in years if isinstance(y, Mapping)],
                      "tax-years")
    return out
