"""HTML tearsheet: every section, offline plotly, numbers traceable to the inputs, atomic write."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from plotly.offline import get_plotlyjs

from tftrade.analytics import AnalyticsError, brinson, metrics
from tftrade.analytics import tearsheet as ts_module
from tftrade.analytics.metric_labels import metric_label
from tftrade.analytics.tearsheet import SECTION_TITLES, TearsheetData, build_html, render_tearsheet
from tftrade.analytics.tearsheet_charts import equity_figure, period_returns_figure
from tftrade.analytics.tearsheet_model_charts import forecast_fan_figure, most_traded
from tftrade.analytics.tearsheet_tables import costs_exposure_table, format_metric, metrics_table

DAY_NS = 86_400 * 10**9


def _synthetic(
    timestamps: np.ndarray | None = None, n_tickers: int = 6, n_trades: int = 40, seed: int = 0
) -> TearsheetData:
    rng = np.random.default_rng(seed)
    if timestamps is None:  # ~14 months of business days
        timestamps = pd.bdate_range("2023-01-02", periods=300, tz="UTC").as_unit("ns").asi8
    steps = timestamps.shape[0]
    tickers = [f"T{i:02d}" for i in range(n_tickers)]
    sectors = [("Tech", "Energy", "Health")[i % 3] for i in range(n_tickers)]
    rets = rng.normal(0.0005, 0.01, steps)
    rets[0] = 0.0
    bench_rets = rng.normal(0.0003, 0.009, steps)
    bench_rets[0] = 0.0
    equity = 1e6 * np.cumprod(1 + rets)
    bench = 1e6 * np.cumprod(1 + bench_rets)
    raw = rng.uniform(0, 1, (steps, n_tickers))
    weights = raw / raw.sum(axis=1, keepdims=True)
    when = pd.to_datetime(np.sort(rng.choice(timestamps, n_trades)), unit="ns", utc=True)
    trades = pd.DataFrame({
        "timestamp": when, "ticker": rng.choice(tickers, n_trades, p=np.linspace(1, 2, n_tickers) / np.linspace(
            1, 2, n_tickers).sum()),
        "action": rng.choice(["buy", "sell"], n_trades), "quantity": rng.integers(1, 100, n_trades).astype(float),
        "price": rng.uniform(10, 200, n_trades), "pnl": rng.normal(0, 100, n_trades),
        "rationale": [f"p50 {x:.4f}, confidence 0.7, top: rsi_14" for x in rng.normal(0, 0.01, n_trades)],
    })
    as_of = pd.to_datetime(timestamps[::5], unit="ns", utc=True)
    forecasts = pd.concat([pd.DataFrame({
        "ticker": t, "as_of": as_of, "horizon": h,
        "q10": np.full(len(as_of), -0.02), "q50": rng.normal(0, 0.002, len(as_of)), "q90": np.full(len(as_of), 0.02),
        "realised": rng.normal(0, 0.01, len(as_of)),
    }) for t in tickers for h in (1, 5)], ignore_index=True)
    sentiment = pd.concat([pd.DataFrame({
        "ticker": t, "timestamp": as_of, "sentiment": rng.uniform(-1, 1, len(as_of)),
        "price": 100 + rng.normal(0, 1, len(as_of)).cumsum(),
    }) for t in tickers], ignore_index=True)
    gate = pd.DataFrame({
        "timestamp": pd.to_datetime(timestamps[[3, 10, 20]], unit="ns", utc=True),
        "ticker": [tickers[i % n_tickers] for i in range(3)],
        "action": ["resize", "reject", "resize"],
        "reasons": [["per-stock cap 5%"], ["VIX 41.0 > 35: no new positions"], "sector cap 25%"],
    })
    w_last = weights[-1]
    attribution = brinson(w_last, np.full(n_tickers, 1 / n_tickers), rng.normal(0.01, 0.02, n_tickers),
                          rng.normal(0.01, 0.02, n_tickers), sectors)
    return TearsheetData(
        title="Synthetic backtest", timestamps=timestamps, equity=equity, benchmark=bench, tickers=tickers,
        sectors=sectors, weights=weights, beta=rng.uniform(0.8, 1.2, steps),
        metrics=metrics(rets[1:], bench_rets[1:], 252, weights=weights[1:]),
        benchmark_metrics=metrics(bench_rets[1:], None, 252), periods_per_year=252.0, trades=trades,
        forecasts=forecasts, importance={"static": {"sector": 0.6, "ticker_id": 0.4},
                                         "encoder": {"rsi_14": 0.5, "return_1": 0.3, "sentiment": 0.2},
                                         "decoder": {"minute_of_day": 0.7, "day_of_week": 0.3}},
        sentiment=sentiment, attribution=attribution, gate_events=gate,
        notes=["max_sector_weight relaxed from 0.25 to 0.34 on 2023-03-01"], beta_band=(0.8, 1.2),
        summary=SUMMARY, cash=equity * 0.1,
        comparison=[{"variant": "TFT + sentiment", "total_return": 0.12, "gross_total_return": 0.13,
                     "benchmark_total_return": 0.05, "trades": 40, "costs": 1234.5, "max_drawdown": -0.04},
                    {"variant": "ridge, no sentiment", "total_return": 0.01, "gross_total_return": 0.02,
                     "benchmark_total_return": 0.05, "trades": 38, "costs": 1200.0, "max_drawdown": -0.06}],
    )


SUMMARY = {
    "total_return": 0.12, "gross_total_return": 0.13, "risk_free_rate": 0.0,
    "costs": {"spread": 200.0, "impact": 900.0, "fees": 34.5, "commission": 100.0, "total": 1234.5,
              "total_bps_of_initial_equity": 12.345},
    "exposure": {"gross_mean": 0.9, "net_mean": 0.9, "cash_mean": 0.1, "cash_final": 0.1, "turnover_per_bar": 0.02,
                 "traded_notional_x_mean_equity": 5.5},
    "stops": {"stop_loss_exits": 3.0, "stop_loss_pnl": -1500.0, "stop_loss_turnover": 0.2, "take_profit_exits": 2.0,
              "take_profit_pnl": 900.0, "take_profit_turnover": 0.1},
    "settings": {"risk": {"max_position": 0.05}, "costs": {"half_spread_bps": 2.0}, "stops": {"mode": "atr"}},
    "tax_alpha": {"pre_tax_return": 0.12, "after_tax_return": 0.1, "tax": "20000.00", "tax_drag": 0.02,
                  "short_term_gains": "54054.05", "long_term_gains": "0.00", "disallowed_in_year": "0.00",
                  "deferred_losses": "0.00", "sales": 5, "rates": {"short_term": "0.37", "long_term": "0.20"}},
}


def _hand_period_returns(timestamps: np.ndarray, equity: np.ndarray, key: Any) -> dict[Any, float]:
    """Loop-written period returns: last value of each period over the previous period's last (first: V0)."""
    last: dict[Any, float] = {}
    for t, v in zip(timestamps, equity, strict=True):
        last[key(datetime.fromtimestamp(int(t) / 1e9, tz=UTC))] = float(v)
    out, prev = {}, float(equity[0])
    for k, v in last.items():
        out[k] = v / prev - 1.0
        prev = v
    return out


def test_every_section_and_the_inline_plotly_bundle(tmp_path: Path) -> None:
    path = render_tearsheet(_synthetic(), tmp_path / "report.html")
    html = path.read_text(encoding="utf-8")
    for title in SECTION_TITLES:
        assert f"<h2>{title}</h2>" in html
    for chart in ("Equity vs benchmark", "Drawdown", "Monthly returns (month-end equity)", "Weight by sector",
                  "Portfolio beta", "Forecast fan chart, horizon 1", "Variable importance", "Sentiment vs price",
                  "Brinson attribution"):
        assert chart in html
    assert get_plotlyjs() in html
    assert not re.search(r"<script[^>]*\ssrc=", html), "no external scripts: the report must work offline"
    assert 'class="absent"' not in html
    assert "VIX 41.0 &gt; 35: no new positions" in html and "per-stock cap 5%" in html
    assert "max_sector_weight relaxed from 0.25 to 0.34" in html


def test_metrics_table_numbers_match_the_input() -> None:
    data = _synthetic()
    html = build_html(data)
    table = html[html.index('<table class="metrics">'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r'<tr><td data-key="(\w+)">([^<]+)</td>(.*?)</tr>', table)
    assert sorted(name for name, _, _ in rows) == sorted(data.metrics)
    assert [name for name, _, _ in rows][:3] == ["total_return", "annual_return", "annual_volatility"]
    assert data.benchmark_metrics is not None
    for name, label, cells in rows:
        assert label == metric_label(name)
        values = re.findall(r'data-value="([^"]+)">([^<]+)</td>', cells)
        shown = [float(v) for v, _ in values]
        scale = data.periods_per_year if name == "turnover" else 1.0  # one-way per bar -> × capital per year
        expected = [data.metrics[name] * scale, data.benchmark_metrics.get(name, float("nan")) * scale]
        assert_allclose(shown, expected[:len(shown)], equal_nan=True)
        for (_, text), want in zip(values, expected, strict=False):
            assert text == format_metric(name, want)


def test_metrics_read_as_percentages_and_ratios_with_human_labels() -> None:
    """A manager reads "Max drawdown (%)" -2.44 % and "Sharpe ratio" 1.06, not max_drawdown -0.0244; turnover is
    × capital per year; the exact value stays in data-value and the machine key in data-key."""
    html = metrics_table({"total_return": 0.0396, "max_drawdown": -0.0244, "sharpe": 1.0634, "turnover": 0.0165,
                          "win_rate": 0.5347, "beta": 0.3476, "alpha": float("nan")}, {"total_return": 0.1937},
                         turnover_periods=252.0)
    cells = dict(re.findall(r"<tr><td[^>]*>([^<]+)</td><td[^>]*>([^<]+)</td>", html))
    assert cells == {"Total return (%)": "+3.96%", "Max drawdown (%)": "-2.44%", "Sharpe ratio": "1.06",
                     "Turnover (× capital / year)": "4.16×", "Win rate (% of bars)": "53.47%", "Beta": "0.35",
                     "Alpha (% / year)": "n/a"}
    assert 'data-value="0.0396">+3.96%</td><td class="num" data-value="0.1937">+19.37%</td>' in html
    assert '<td data-key="sharpe">Sharpe ratio</td><td' in html and '>–</td>' in html  # no benchmark sharpe: a dash
    assert not re.search(r">(max_drawdown|sortino|sharpe|turnover|total_return)<", html)  # no snake_case shown


def test_tearsheet_shows_no_snake_case_metric_names() -> None:
    html = build_html(_synthetic())
    head = html[html.index("<h2>Headline metrics</h2>"):html.index("<h2>Equity vs benchmark</h2>")]
    for label in ("Max drawdown (%)", "Sortino ratio", "Turnover (× capital / year)", "Information ratio"):
        assert label in head
    assert not re.search(r">(max_drawdown|sortino|calmar|information_ratio|turnover|win_rate)<", head)


def test_attribution_sector_effects_are_percent_like_the_parts() -> None:
    """The sector table and the parts above it use one unit (percent), so the totals can be read against each other."""
    html = build_html(_synthetic())
    table = html[html.index('<table class="attribution">'):]
    table = table[:table.index("</table>")]
    shown = re.findall(r'class="num" data-value="([^"]+)">([^<]+)</td>', table)
    assert shown and all(text.endswith("%") for _, text in shown)
    assert all(text == f"{float(v):+.2%}" for v, text in shown)


def test_cash_line_does_not_blame_hard_caps_for_all_cash() -> None:
    html = costs_exposure_table({"exposure": {"cash_mean": 0.62, "cash_final": 0.76}})
    assert "what the strategy left uninvested" in html and "62.0% / 76.0%" in html


def test_monthly_heatmap_equals_returns_computed_by_hand() -> None:
    data = _synthetic()
    fig, monthly = period_returns_figure(data.timestamps, data.equity)
    hand = _hand_period_returns(data.timestamps, data.equity, lambda d: (d.year, d.month))
    heat = fig.data[0]
    z = np.asarray(heat.z, dtype=float)
    years = [int(y) for y in heat.y]
    got = {(years[i], j + 1): z[i, j] for i in range(z.shape[0]) for j in range(12) if np.isfinite(z[i, j])}
    assert got.keys() == hand.keys()
    assert_allclose([got[k] for k in hand], list(hand.values()), rtol=1e-12)
    assert_allclose(monthly.returns, list(hand.values()), rtol=1e-12)
    assert len(hand) == 14


def test_minute_data_is_aggregated_to_months_and_downsampled() -> None:
    sessions = pd.bdate_range("2024-01-02", "2024-04-30", tz="UTC")
    minutes = (sessions.as_unit("ns").asi8[:, None] + (14 * 60 + 30 + np.arange(390)) * 60 * 10**9).reshape(-1)
    data = _synthetic(minutes, n_tickers=3)
    _, monthly = period_returns_figure(data.timestamps, data.equity)
    hand = _hand_period_returns(data.timestamps, data.equity, lambda d: (d.year, d.month))
    assert_allclose(monthly.returns, list(hand.values()), rtol=1e-12)
    assert [p.month for p in monthly.periods] == [1, 2, 3, 4]
    eq = equity_figure(data.timestamps, data.equity, data.benchmark)
    assert len(eq.data[0].y) <= 5_000 < minutes.shape[0]
    assert f"downsampled from {minutes.shape[0]:,}" in eq.layout.title.text
    assert min(eq.data[0].y) == data.equity.min() and max(eq.data[0].y) == data.equity.max()


def test_short_run_shows_daily_returns_and_says_so() -> None:
    sessions = pd.bdate_range("2024-03-04", periods=15, tz="UTC").as_unit("ns").asi8
    minutes = (sessions[:, None] + np.arange(0, 390 * 60 * 10**9, 60 * 10**9)).reshape(-1)
    data = _synthetic(minutes, n_tickers=2)
    fig, daily = period_returns_figure(data.timestamps, data.equity)
    assert "less than two months" in fig.layout.title.text
    hand = _hand_period_returns(data.timestamps, data.equity, lambda d: d.date())
    assert_allclose(np.asarray(fig.data[0].y, dtype=float), list(hand.values()), rtol=1e-12)
    assert daily.period == "day" and len(daily.returns) == 15
    assert "less than two months" in build_html(data)


def test_missing_optional_sections_are_reported_absent(tmp_path: Path) -> None:
    full = _synthetic()
    bare = dataclasses.replace(
        full, benchmark=None, beta=None, benchmark_metrics=None, forecasts=None, importance=None, sentiment=None,
        attribution=None, gate_events=None, notes=(), trades=full.trades.iloc[0:0],
    )
    html = render_tearsheet(bare, tmp_path / "bare.html").read_text(encoding="utf-8")
    for line in ("Portfolio beta: absent (no beta series)", "Forecast fan chart: absent (no forecasts)",
                 "Variable importance: absent (no importance given)",
                 "Sentiment vs price: absent (no sentiment series)",
                 "Attribution: absent (no attribution given)", "Trades: absent (no trades)",
                 "Risk-gate events: absent (no gate events)", "Notes: absent (no notes)"):
        assert f'<p class="absent">{line}.</p>' in html
    assert "<th>benchmark</th>" not in html
    assert "Equity vs benchmark" in html and "Monthly returns" in html
    empty_frames = dataclasses.replace(full, forecasts=full.forecasts.iloc[0:0] if full.forecasts is not None else None,
                                       importance={"static": {}, "encoder": {}, "decoder": {}})
    html = build_html(empty_frames)
    assert "Forecast fan chart: absent" in html and "Variable importance: absent" in html


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"weights": np.ones((10, 6))}, r"weights has shape \(10, 6\), expected \(T, n\) = \(300, 6\)"),
        ({"equity": np.ones(299)}, r"equity has shape \(299,\), expected \(300,\)"),
        ({"benchmark": np.ones((300, 1))}, "benchmark has shape"),
        ({"beta": np.ones(3)}, "beta has shape"),
        ({"sectors": ["Tech"] * 5}, "sectors has 5 entries"),
        ({"timestamps": np.linspace(0, 1, 300)}, "timestamps must be a 1-D integer array"),
        ({"timestamps": np.arange(300, dtype=np.int64)[::-1].copy()}, "timestamps must be sorted"),
        ({"equity": -np.ones(300)}, "equity must be finite and positive"),
        ({"periods_per_year": 0.0}, "periods_per_year must be > 0"),
        ({"importance": {"attention": {"x": 1.0}}}, r"importance has unknown groups \['attention'\]"),
        ({"metrics": {"sharpe": "high"}}, r"metrics has non-numeric values for \['sharpe'\]"),
    ],
)
def test_bad_inputs_raise_naming_the_field(change: dict[str, Any], match: str) -> None:
    with pytest.raises(AnalyticsError, match=match):
        dataclasses.replace(_synthetic(), **change)


@pytest.mark.parametrize("frame", ["trades", "forecasts", "sentiment", "gate_events"])
def test_frames_missing_columns_raise(frame: str) -> None:
    data = _synthetic()
    broken = getattr(data, frame).drop(columns=["ticker"])
    with pytest.raises(AnalyticsError, match=rf"{frame} is missing columns \['ticker'\]"):
        dataclasses.replace(data, **{frame: broken})


def test_failed_render_leaves_the_existing_file_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("previous report", encoding="utf-8")

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("chart failed")

    monkeypatch.setattr(ts_module, "forecast_fan_figure", boom)
    with pytest.raises(RuntimeError, match="chart failed"):
        render_tearsheet(_synthetic(), target)
    assert target.read_text(encoding="utf-8") == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_failed_write_leaves_the_existing_file_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("previous report", encoding="utf-8")

    def no_rename(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ts_module.os, "replace", no_rename)
    with pytest.raises(AnalyticsError, match=r"cannot write the tearsheet.*disk full"):
        render_tearsheet(_synthetic(), target)
    assert target.read_text(encoding="utf-8") == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    with pytest.raises(AnalyticsError, match="is a directory"):
        render_tearsheet(_synthetic(), tmp_path)


def test_fan_chart_caps_to_the_most_traded_and_plots_the_input() -> None:
    data = _synthetic(n_tickers=25, n_trades=300)
    assert data.forecasts is not None
    chosen = most_traded(data.trades, data.forecasts["ticker"].unique())
    counts = data.trades["ticker"].value_counts()
    assert len(chosen) == 20
    assert min(counts.get(t, 0) for t in chosen) >= max(counts.get(t, 0) for t in set(data.tickers) - set(chosen))
    fig = forecast_fan_figure(data.forecasts, chosen)
    assert len(fig.data) == 4 * 20 and len(fig.layout.updatemenus[0].buttons) == 20
    first = data.forecasts[(data.forecasts["ticker"] == chosen[0]) & (data.forecasts["horizon"] == 1)]
    assert_allclose(np.asarray(fig.data[2].y, dtype=float), first.sort_values("as_of")["q50"].to_numpy())
    assert [t.visible for t in fig.data[:5]] == [True, True, True, True, False]


def test_trade_list_keeps_the_last_500_and_escapes_rationale() -> None:
    data = _synthetic(n_trades=600)
    trades = data.trades.copy()
    trades["rationale"] = [f"r{i}" for i in range(600)]
    trades.loc[599, "rationale"] = "<script>alert(1)</script>"
    html = build_html(dataclasses.replace(data, trades=trades))
    body = html[html.index('<table class="trades">'):]
    body = body[:body.index("</table>")]
    assert body.count("<tr>") == 1 + 500
    assert "<td>r99</td>" not in body and "<td>r100</td>" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert" not in html
    assert "600 trades; the last 500 are listed" in html


def test_short_run_leads_with_period_return_and_sets_annualised_figures_apart() -> None:
    """Six sessions: the period return leads, a warning says nothing is annualised, annual rows sit in <details>."""
    ts = pd.bdate_range("2024-03-04", periods=6, tz="America/New_York").as_unit("ns").asi8
    minutes = np.concatenate([t + (9 * 60 + 30 + np.arange(390)) * 60 * 10**9 for t in ts])
    data = _synthetic(minutes)
    html = build_html(data)
    head = html[html.index("<h2>Headline metrics</h2>"):html.index("<h2>Equity vs benchmark</h2>")]
    assert "over 6 trading sessions" in head
    assert "fewer than 252" in head and "not annualised" in head
    first_table = head[head.index('<table class="metrics">'):]
    first_table = first_table[:first_table.index("</table>")]
    assert "annual_return" not in first_table and "sharpe" not in first_table
    assert re.findall(r'<tr><td data-key="(\w+)">', first_table)[0] == "total_return"
    assert "Turnover (× capital / session)" in first_table  # a short run's turnover is per session
    details = head[head.index("<details>"):]
    assert "Annual return (CAGR, %)" in details and "Sharpe ratio" in details
    long = build_html(_synthetic())
    long_head = long[long.index("<h2>Headline metrics</h2>"):long.index("<h2>Equity vs benchmark</h2>")]
    assert "<details>" not in long_head and "not annualised" not in long_head


def test_time_axes_are_trading_time_and_labels_new_york_time() -> None:
    ts = pd.bdate_range("2024-03-04", periods=3, tz="America/New_York").as_unit("ns").asi8
    minutes = np.concatenate([t + (9 * 60 + 30 + np.arange(390)) * 60 * 10**9 for t in ts])
    html = build_html(_synthetic(minutes))
    assert '"type":"category"' in html.replace(" ", "")  # one slot per bar: no overnight/weekend width
    assert "2024-03-04 09:30" in html  # New York time, minutes, no nanoseconds
    assert "000000000" not in html[html.index("<body>"):html.index("<h2>")]  # the subtitle is formatted


def test_heatmap_colorbar_ticks_are_not_all_zero_percent() -> None:
    from tftrade.analytics.tearsheet_charts import colorbar_format, period_returns_figure

    ts = pd.bdate_range("2023-01-02", periods=300, tz="UTC").as_unit("ns").asi8
    equity = 1e6 * np.cumprod(1 + np.full(300, 0.00005))  # about +0.1 % a month
    fig, monthly = period_returns_figure(ts, equity)
    fmt = fig.data[0].colorbar.tickformat
    assert fmt == colorbar_format(np.asarray(monthly.returns)) and fmt in (".1%", ".2%", ".3%")
    labels = {format(v, fmt.replace("%", "").lstrip(".").join(["." , "%"])) for v in np.linspace(0, 0.0012, 5)}
    assert len(labels) > 2


def test_costs_settings_and_comparison_sections() -> None:
    html = build_html(_synthetic())
    costs = html[html.index("<h2>Costs, exposure and turnover</h2>"):html.index("<h2>Where the return comes from")]
    for text in ("1,234.50", "12.3 bps", "SEC fee and FINRA TAF", "per bar", "risk-free rate", "stop-loss exits",
                 "gross exposure", "net exposure", "cash (mean / final)"):
        assert text in costs
    assert "ridge, no sentiment" in html and "risk.max_position" in html


def test_tax_alpha_section_shows_after_vs_pre_tax_gains_by_term_and_deferred_losses() -> None:
    base = _synthetic()
    tax = {"pre_tax_return": 0.1, "after_tax_return": 0.063, "tax": "37000.00", "tax_drag": 0.037,
           "short_term_gains": "100000.00", "long_term_gains": "-2500.50", "disallowed_in_year": "812.25",
           "deferred_losses": "400.10", "sales": 12, "method": "fifo", "skipped_short_trades": 3,
           "rates": {"short_term": "0.37", "long_term": "0.20"},
           "years": [{"year": 2023, "short_term_gains": "60000.00", "long_term_gains": "0.00", "disallowed": "812.25",
                      "sales": 8, "tax": "22200.00"},
                     {"year": 2024, "short_term_gains": "40000.00", "long_term_gains": "-2500.50",
                      "disallowed": "0.00", "sales": 4, "tax": "13875.00"}]}
    html = build_html(dataclasses.replace(base, summary={**(base.summary or {}), "tax_alpha": tax}))
    section = html[html.index("<h2>Tax alpha</h2>"):html.index("<h2>Where the return comes from")]
    assert html.index("<h2>Costs, exposure and turnover</h2>") < html.index("<h2>Tax alpha</h2>")
    for text in ("After tax <b>+6.30%</b> vs <b>+10.00%</b> before tax", "37,000.00", "3.70% of initial equity",
                 "37% on net short-term", "20% on net long-term", "100,000.00", "-2,500.50", "812.25", "400.10",
                 "3 short-sale trades", "2023", "13,875.00"):
        assert text in section, text
    without = {k: v for k, v in (base.summary or {}).items() if k != "tax_alpha"}
    absent = build_html(dataclasses.replace(base, summary=without))
    assert "Tax alpha: absent" in absent
    broken = build_html(dataclasses.replace(base, summary={**without, "tax_alpha": {"error": "bad lots"}}))
    assert "Tax alpha: absent (bad lots)" in broken


def test_trade_and_gate_times_are_new_york_dates_for_daily_bars() -> None:
    """Daily bars stamped at New York midnight read as dates, not 05:00 / 04:00 UTC that shift with DST."""
    data = _synthetic(n_trades=4)
    when = pd.to_datetime(["2017-03-09 05:00", "2017-03-16 04:00", "2017-12-22 05:00", "2017-12-22 05:00"], utc=True)
    trades = data.trades.head(4).assign(timestamp=when)
    gate = pd.DataFrame({"timestamp": when[:2], "ticker": ["AAL", "KSS"], "action": ["resize", "resize"],
                         "reasons": ["beta", "beta"]})
    html = build_html(dataclasses.replace(data, trades=trades, gate_events=gate))
    for css in ("trades", "gate"):
        table = html[html.index(f'<table class="{css}">'):]
        table = table[:table.index("</table>")]
        assert "<th>time (New York)</th>" in table and "UTC" not in table
        assert "<td>2017-03-16</td>" in table and "04:00" not in table and "05:00" not in table
    minute = dataclasses.replace(data, trades=trades.assign(timestamp=pd.to_datetime(
        ["2024-01-02 14:31"] * 4, utc=True)))
    assert "<td>2024-01-02 09:31</td>" in build_html(minute)


def test_stop_lines_say_realised_pnl_is_not_the_stops_effect() -> None:
    stops = {"stop_loss_exits": 765, "stop_loss_pnl": -82137.1, "stop_loss_turnover": 1.24,
             "take_profit_exits": 666, "take_profit_pnl": 125935.8, "take_profit_turnover": 1.36}
    html = costs_exposure_table({"stops": stops})
    assert ">765<" in html and "-82,137.10" in html and "125,935.80" in html and "1.36× mean equity" in html
    assert "not what the stops added or cost" in html and "--compare stops" in html


EFFECT = {"return_diff": -0.0561, "return_with": 0.0396, "return_without": 0.0957, "gross_return_diff": -0.0552,
          "turnover_with": 8.25, "turnover_without": 4.69, "turnover_ratio": 8.25 / 4.69, "max_drawdown_with": -0.08,
          "max_drawdown_without": -0.06, "max_drawdown_diff": -0.02, "costs_diff": 900.0,
          "text": "Stops: -5.61 pp net return, 1.76× turnover, max drawdown -8.00% vs -6.00% against the same run "
                  "without stops (+3.96% vs +9.57% net)"}


def test_stops_effect_leads_the_page_and_sits_in_the_costs_table() -> None:
    """The stops' effect (this run minus the same run without stops), not only their realised P&L, is in the
    headline and the costs table."""
    base = _synthetic()
    html = build_html(dataclasses.replace(base, summary={**SUMMARY, "stops_effect": EFFECT}))
    head = html[html.index("<h2>Headline metrics</h2>"):html.index('<table class="metrics">')]
    assert "Stops: -5.61 pp net return, 1.76× turnover" in head
    costs = html[html.index("<h2>Costs, exposure and turnover</h2>"):html.index("<h2>Tax alpha</h2>")]
    assert "stops&#x27; effect on net return" in costs and 'data-value="-0.0561">-5.61%' in costs
    assert ">1.76×<" in costs and "8.25× vs 4.69×" in costs
    assert "pp net return" not in build_html(base)  # no comparison run, no claim


def test_turnover_reads_as_capital_per_year() -> None:
    html = costs_exposure_table(SUMMARY, 252.0)
    assert "5.04× capital / year (2.00% per bar)" in html


def test_no_views_banner_tops_the_page() -> None:
    """A model that gives no views says so above everything else, with what the run traded on."""
    banner = ("The TFT gives no views: it loses to ridge (0.7775) on validation (P50 q-risk 0.8474). This run "
              "traded the Black–Litterman prior alone")
    base = _synthetic()
    html = build_html(dataclasses.replace(base, summary={**SUMMARY, "banner": banner}))
    body = html[html.index("<body>"):]
    at = body.index('class="banner"')
    assert at < body.index("<h2>") and at < body.index('class="meta"') and "ridge (0.7775)" in body[at:at + 400]
    assert 'class="banner"' not in build_html(base)


def test_comparison_table_says_what_changed_and_shows_turnover_and_views() -> None:
    rows = [{"key": "this", "variant": "this run", "total_return": 0.0059, "gross_total_return": 0.0143,
             "benchmark_total_return": 0.0574, "max_drawdown": -0.0446, "turnover": 30.1, "trades": 2642,
             "stop_exits": 493, "costs": 8346.9, "model": {"gives_views": False, "views_share": 0.0}},
            {"key": "stops", "variant": "same run, stops off", "total_return": 0.03, "gross_total_return": 0.035,
             "benchmark_total_return": 0.0574, "max_drawdown": -0.03, "turnover": 10.0, "trades": 900,
             "stop_exits": 0, "costs": 3000.0},
            {"key": "no-sentiment", "variant": "TFT retrained without sentiment, no sentiment in the strategy",
             "total_return": 0.01, "gross_total_return": 0.02, "benchmark_total_return": 0.0574,
             "max_drawdown": -0.05, "turnover": 12.0, "trades": 1000, "stop_exits": 100, "costs": 4000.0,
             "model": {"gives_views": True, "views_share": 0.8}}]
    html = build_html(dataclasses.replace(_synthetic(), comparison=rows))
    section = html[html.index("<h2>Where the return comes from</h2>"):html.index("<h2>Forecast fan chart")]
    assert "<b>retrained</b> without its sentiment inputs" in section and "stops off" in section
    assert "The benchmark returned +5.74%" in section
    assert ">30.10×<" in section and ">493<" in section and "none (traded the prior)" in section
    assert "80% of forecasts" in section
    old = build_html(_synthetic())  # an older run's rows lack turnover and stop exits: a dash, not "nan"
    old_section = old[old.index("<h2>Where the return comes from</h2>"):old.index("<h2>Forecast fan chart")]
    assert "nan" not in old_section and ">–<" in old_section


def test_percent_cells_never_show_minus_zero() -> None:
    from tftrade.analytics.tearsheet_tables import _pct_cell

    assert ">+0.00%<" in _pct_cell(-0.000004) and 'data-value="-4e-06"' in _pct_cell(-0.000004)
    assert ">-0.01%<" in _pct_cell(-0.00005) and ">+0.01%<" in _pct_cell(0.00006)


def test_fractional_sessions_read_to_one_decimal() -> None:
    """1,934 minute bars are 4.958974 sessions: the page showed "4.95897 trading sessions"."""
    html = build_html(dataclasses.replace(_synthetic(), sessions=1934 / 390))
    assert "over 5.0 trading sessions" in html and "4.95897" not in html
