"""Saved runs: what is written is what is read back; forecasts aligned by ticker; the tearsheet renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tftrade.backtest import BacktestConfig, BacktestError, run_backtest
from tftrade.backtest.forecasts import ForecastPanel
from tftrade.backtest.report import render_run
from tftrade.backtest.runs import load_run, new_run_id, save_run
from tftrade.backtest.workflow import BacktestRun
from tftrade.core.errors import NotFoundError
from tftrade.strategy.sma import SmaCrossover

from .conftest import make_market


def _run() -> BacktestRun:
    rng = np.random.default_rng(1)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (80, 3)), axis=0))
    market = make_market(close, benchmark=close.mean(axis=1))
    res = run_backtest(market, SmaCrossover(3, 8), config=BacktestConfig(stop_loss=None, take_profit=None))
    q50 = np.full((80, 2), np.nan)
    q50[40:] = rng.normal(0, 0.01, (40, 2))
    fc = ForecastPanel(market.timestamps, ("T2", "T0"), 2, q50 - 0.01, q50, q50 + 0.01, np.full((80, 2), 0.5),
                       importance={"static": {"ticker_id": 1.0}, "encoder": {"log_return": 1.0}, "decoder": {}})
    return BacktestRun(res, fc, None, "sma")


def test_save_and_load_round_trip_with_forecasts_aligned_by_ticker(tmp_path: Path) -> None:
    run = _run()
    path = save_run(tmp_path, run, "bt-1")
    saved = load_run(tmp_path)
    assert saved.run_id == "bt-1" and saved.path == path
    np.testing.assert_array_equal(saved.equity, run.result.equity)
    np.testing.assert_array_equal(saved.weights, run.result.weights)
    assert len(saved.trades) == len(run.result.trades) and saved.summary["trades"] == len(run.result.trades)
    fc = saved.forecasts
    assert fc is not None and set(fc["ticker"]) == {"T0", "T2"} and len(fc) == 80
    close = run.result.market.close
    row = fc[(fc["ticker"] == "T2")].iloc[0]
    t = int(np.searchsorted(run.result.market.timestamps, row["as_of"].value))
    assert row["realised"] == pytest.approx(np.log(close[t + 2, 2] / close[t, 2]))
    assert fc["realised"].isna().sum() == 2 * 2  # the last two rows of each ticker lie beyond the data
    out = render_run(saved)
    assert out.exists() and "Forecast fan chart, horizon 2" in out.read_text()


def test_runs_are_never_overwritten_and_missing_runs_are_named(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no backtest has been run yet"):
        load_run(tmp_path)
    save_run(tmp_path, _run(), "bt-1")
    with pytest.raises(BacktestError, match="already exists"):
        save_run(tmp_path, _run(), "bt-1")
    with pytest.raises(NotFoundError, match="no backtest run bt-2"):
        load_run(tmp_path, "bt-2")
    assert new_run_id("tft") > "bt-1"


def test_attribution_parts_add_up_to_the_headline_active_return(tmp_path: Path) -> None:
    """Brinson against the benchmark the headline shows: allocation + selection + interaction + trading/costs +
    benchmark-vs-proxy equals total return minus benchmark total return (it was -0.21 % vs +23.8 points)."""
    from tftrade.backtest.report import attribution

    run = _run()
    save_run(tmp_path, run, "bt-a")
    saved = load_run(tmp_path, "bt-a")
    res = attribution(saved)
    assert res is not None
    s = saved.summary
    active = s["total_return"] - s["benchmark_total_return"]
    parts = res.totals()
    assert res.active_return == pytest.approx(active, abs=1e-12)
    assert sum(v for k, v in parts.items() if k != "active_return") == pytest.approx(active, abs=1e-12)
    assert "equal weights" in res.description and "cash" in res.sectors
    html = render_run(saved).read_text()
    assert "active return (headline)" in html and "sum of the parts" in html


def test_the_risk_free_rate_of_the_settings_is_used_and_reported() -> None:
    import dataclasses

    res = _run().result
    with_rf = dataclasses.replace(res, setup={"risk": {"risk_free_rate": 0.05}})
    m0, m5 = res.metrics(), with_rf.metrics()
    rf_bar = 1.05 ** (1 / res.periods_per_year) - 1
    r = res.returns()
    assert m5["sharpe"] == pytest.approx((r - rf_bar).mean() / (r - rf_bar).std(ddof=1) * res.periods_per_year**0.5)
    assert m5["sharpe"] < m0["sharpe"] and with_rf.summary()["risk_free_rate"] == 0.05
