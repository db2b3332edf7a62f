"""HTML tables of the tearsheet: metrics, trades, risk-gate events, attribution.

Cells are HTML-escaped; numeric metric cells carry the exact value in ``data-value``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape

import pandas as pd

from tftrade.analytics.attribution import BrinsonResult
from tftrade.analytics.metrics import METRIC_NAMES

MAX_ROWS = 500


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


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], css: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(text: object) -> str:
    return f"<td>{escape(str(text))}</td>"


def _number_cell(value: float | None) -> str:
    if value is None:
        return '<td class="num">–</td>'
    return f'<td class="num" data-value="{float(value)!r}">{format_number(float(value))}</td>'


def metrics_table(strategy: Mapping[str, float], benchmark: Mapping[str, float] | None) -> str:
    """Return the headline metrics, strategy vs benchmark (standard metrics first, then any extras)."""
    names = [m for m in METRIC_NAMES if m in strategy] + [m for m in strategy if m not in METRIC_NAMES]
    header = ["metric", "strategy"] + (["benchmark"] if benchmark is not None else [])
    rows = []
    for name in names:
        row = [_cell(name), _number_cell(strategy[name])]
        if benchmark is not None:
            row.append(_number_cell(benchmark.get(name)))
        rows.append(row)
    return _table(header, rows, "metrics")


def trades_table(trades: pd.DataFrame, limit: int = MAX_ROWS) -> str:
    """Return the last ``limit`` trades (by timestamp, newest last) with their rationale."""
    frame = trades.sort_values("timestamp", kind="stable").tail(limit)
    rows = [[_cell(_when(r.timestamp)), _cell(r.ticker), _cell(r.action), _cell(format_number(float(r.quantity), 2)),
             _cell(format_number(float(r.price), 4)), _cell(format_number(float(r.pnl), 2)), _cell(r.rationale)]
            for r in frame.itertuples(index=False)]
    return _table(["time (UTC)", "ticker", "action", "quantity", "price", "P&L", "rationale"], rows, "trades")


def gate_table(events: pd.DataFrame, limit: int = MAX_ROWS) -> str:
    """Return a count of gate events by action and the last ``limit`` events with their reasons."""
    counts = events["action"].astype(str).value_counts().sort_index()
    summary = _table(["action", "events"], [[_cell(a), _cell(int(c))] for a, c in counts.items()], "gate-summary")
    frame = events.sort_values("timestamp", kind="stable").tail(limit)
    rows = [[_cell(_when(r.timestamp)), _cell(r.ticker), _cell(r.action), _cell(_reasons(r.reasons))]
            for r in frame.itertuples(index=False)]
    return summary + _table(["time (UTC)", "ticker", "action", "reasons"], rows, "gate")


def attribution_table(result: BrinsonResult) -> str:
    """Return Brinson effects per sector and their totals."""
    rows = [[_cell(s), _number_cell(a), _number_cell(b), _number_cell(c)]
            for s, a, b, c in zip(result.sectors, result.allocation, result.selection, result.interaction, strict=True)]
    tot = result.totals()
    rows.append([_cell("total"), _number_cell(tot["allocation"]), _number_cell(tot["selection"]),
                 _number_cell(tot["interaction"])])
    return _table(["sector", "allocation", "selection", "interaction"], rows, "attribution")


def _when(value: object) -> str:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return str(stamp.strftime("%Y-%m-%d %H:%M:%S"))


def _reasons(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return "; ".join(str(v) for v in value)
    return str(value)
