"""Metrics against values computed independently (loops, pandas, closed forms)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tftrade.analytics import METRIC_NAMES, AnalyticsError, metrics

RNG = np.random.default_rng(7)
BENCH = RNG.normal(0.0004, 0.01, 300)
RETS = 0.0002 + 1.3 * BENCH + RNG.normal(0, 0.004, 300)


def _hand(r: np.ndarray, b: np.ndarray, m: float) -> dict[str, float]:
    """Every metric from its textbook formula, written with plain loops."""
    n = len(r)
    mean = sum(r) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (n - 1))
    value, peak, mdd = 1.0, 1.0, 0.0
    for x in r:
        value *= 1 + x
        peak = max(peak, value)
        mdd = min(mdd, value / peak - 1)
    cagr = value ** (m / n) - 1
    mb = sum(b) / n
    cov = sum((x - mean) * (y - mb) for x, y in zip(r, b, strict=True)) / n
    var_b = sum((y - mb) ** 2 for y in b) / n
    beta = cov / var_b
    alpha_per = sum(x - beta * y for x, y in zip(r, b, strict=True)) / n
    act = [x - y for x, y in zip(r, b, strict=True)]
    am = sum(act) / n
    asd = math.sqrt(sum((a - am) ** 2 for a in act) / (n - 1))
    down = math.sqrt(sum(min(x, 0) ** 2 for x in r) / n) * math.sqrt(m)
    return {
        "annual_return": cagr, "annual_volatility": sd * math.sqrt(m), "sharpe": mean / sd * math.sqrt(m),
        "sortino": mean * m / down, "max_drawdown": mdd, "calmar": cagr / abs(mdd), "beta": beta,
        "alpha": (1 + alpha_per) ** m - 1, "information_ratio": am / asd * math.sqrt(m),
        "win_rate": sum(x > 0 for x in r) / sum(x != 0 for x in r),
        "profit_factor": sum(x for x in r if x > 0) / -sum(x for x in r if x < 0),
    }


def test_metrics_match_hand_formulas() -> None:
    got = metrics(RETS, BENCH, 252)
    for name, value in _hand(list(RETS), list(BENCH), 252).items():  # type: ignore[arg-type]
        assert got[name] == pytest.approx(value, rel=1e-9), name
    assert set(METRIC_NAMES) <= set(got)
    assert got["beta"] == pytest.approx(1.3, abs=0.05)


def test_known_closed_form_values() -> None:
    r = np.array([0.10, -0.05, 0.10, -0.05])
    m = metrics(r, periods_per_year=4)
    assert m["annual_return"] == pytest.approx(1.1**2 * 0.95**2 - 1)
    assert m["max_drawdown"] == pytest.approx(-0.05)
    assert m["win_rate"] == 0.5
    assert m["profit_factor"] == pytest.approx(2.0)
    assert m["sortino"] == pytest.approx(0.025 * 4 / (math.sqrt(0.05**2 / 2) * 2))


def test_turnover_from_weights() -> None:
    w = np.array([[0.5, 0.5, 0.0], [0.4, 0.4, 0.2], [0.0, 0.5, 0.5]])
    m = metrics(RETS[:3], weights=w)
    assert m["turnover"] == pytest.approx((0.2 + 0.4) / 2)
    assert math.isnan(metrics(RETS).get("turnover", 0.0))


def test_without_benchmark_relative_metrics_are_nan_and_bad_input_raises() -> None:
    m = metrics(RETS)
    assert math.isnan(m["alpha"]) and math.isnan(m["beta"]) and math.isnan(m["information_ratio"])
    with pytest.raises(AnalyticsError, match="benchmark has 2 periods"):
        metrics(RETS, BENCH[:2])
    with pytest.raises(AnalyticsError, match="at least 2 finite"):
        metrics([0.01, np.nan])


def test_real_sp500_stock_against_pandas(shared_data: Path) -> None:
    prices_file = shared_data / "sp500_daily" / "all_stocks_5yr.csv.gz"
    index_file = shared_data / "index" / "arch_sp500_GSPC_daily.csv"
    stocks = pd.read_csv(prices_file, usecols=["date", "close", "Name"])
    aapl = stocks[stocks["Name"] == "AAPL"].set_index(pd.to_datetime(stocks.loc[stocks["Name"] == "AAPL", "date"]))
    spx = pd.read_csv(index_file)
    spx.index = pd.to_datetime(spx["Date"], format="%m/%d/%Y")
    joined = pd.concat([aapl["close"].pct_change(), spx["Adj Close"].pct_change()], axis=1, join="inner").dropna()
    r, b = joined.iloc[:, 0], joined.iloc[:, 1]
    got = metrics(r.to_numpy(), b.to_numpy())
    wealth = (1 + r).cumprod()
    assert got["max_drawdown"] == pytest.approx(float((wealth / wealth.cummax().clip(lower=1.0) - 1).min()), rel=1e-9)
    assert got["annual_volatility"] == pytest.approx(r.std() * np.sqrt(252), rel=1e-9)
    assert got["beta"] == pytest.approx(r.cov(b, ddof=0) / b.var(ddof=0), rel=1e-9)
    assert got["sharpe"] == pytest.approx(r.mean() / r.std() * np.sqrt(252), rel=1e-9)
    assert 0.5 < got["beta"] < 1.5 and len(r) > 1000
