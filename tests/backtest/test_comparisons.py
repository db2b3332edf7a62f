"""Comparison runs: the stops' effect against the same run without stops, the no-sentiment run retrains
without sentiment inputs, and a model that gives no views says so first."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from tftrade.backtest.comparisons import comparison_runs, parse_compare
from tftrade.backtest.config import trading_setup
from tftrade.backtest.errors import BacktestError
from tftrade.backtest.report import render_run
from tftrade.backtest.runs import load_run, save_run
from tftrade.backtest.verdict import PRIOR, model_verdict
from tftrade.backtest.workflow import ForecastSetup, backtest_store, without_sentiment
from tftrade.core.config import Settings
from tftrade.data.ingest import ingest_synthetic
from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.features.sentiment import SENTIMENT_FEATURES
from tftrade.store.engine import make_engine
from tftrade.store.migrate import upgrade

FAST = ForecastSetup(epochs=1, max_samples=300, seed=0)


def _store(tmp_path: Path, *, tickers: int, days: int, comments: bool = False) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(eng)
    market = generate_market(SyntheticConfig(n_tickers=tickers, days=days, seed=3))
    ingest_synthetic(eng, market)
    if comments:
        from tftrade.sentiment.pipeline import aggregate_store, ingest_synthetic_comments
        from tftrade.sentiment.scorer import make_scorer

        ingest_synthetic_comments(eng, market.comments, [(s.ticker, s.name) for s in market.securities],
                                  make_scorer("lexicon"))
        aggregate_store(eng, "1min")
    return eng


def test_parse_compare_defaults_names_and_errors() -> None:
    assert parse_compare(None, "tft") == ("stops", "ridge") and parse_compare(None, "sma") == ("stops",)
    assert parse_compare("none", "tft") == () and parse_compare("all", "tft") == ("stops", "ridge", "no-sentiment")
    assert parse_compare("ridge,stops", "tft") == ("stops", "ridge")
    with pytest.raises(BacktestError, match="unknown comparison sentiment"):
        parse_compare("stops,sentiment", "tft")
    with pytest.raises(BacktestError, match="needs forecasts"):
        parse_compare("ridge", "sma")


def test_stops_effect_is_this_run_minus_the_same_run_without_stops(tmp_path: Path) -> None:
    """The summary reported the stops' realised P&L only; the effect is the difference to a run without stops."""
    eng = _store(tmp_path, tickers=5, days=3)
    settings = Settings(home=tmp_path)
    setup = trading_setup(settings, "1min", {"risk.rebalance_every": 1})
    run = backtest_store(eng, timeframe="1min", strategy="sma", setup=setup)
    assert run.result.stops()["stop_loss_exits"] + run.result.stops()["take_profit_exits"] > 0, "needs stop exits"
    compared = comparison_runs(eng, run, ("stops",), timeframe="1min", setup=setup)
    off = backtest_store(eng, timeframe="1min", strategy="sma",
                         setup=trading_setup(settings, "1min", {"risk.rebalance_every": 1, "stops.mode": "off"}))
    effect = compared.stops_effect
    assert effect is not None and compared.compared == ("stops",)
    r_with, r_without = run.result.summary()["total_return"], off.result.summary()["total_return"]
    assert effect["return_diff"] == pytest.approx(float(r_with) - float(r_without), abs=1e-12)  # type: ignore[arg-type]
    t_with = run.result.exposure()["traded_notional_x_mean_equity"]
    t_without = off.result.exposure()["traded_notional_x_mean_equity"]
    assert effect["turnover_ratio"] == pytest.approx(t_with / t_without)
    assert effect["max_drawdown_diff"] == pytest.approx(
        run.result.metrics()["max_drawdown"] - off.result.metrics()["max_drawdown"])
    assert str(effect["text"]).startswith(f"Stops: {100 * (float(r_with) - float(r_without)):+.2f} pp net return")  # type: ignore[arg-type]
    rows = compared.comparison or []
    assert [r["key"] for r in rows] == ["this", "stops"] and rows[1]["stop_exits"] == 0
    path = save_run(tmp_path, compared, "bt-stops")
    summary = json.loads((path / "summary.json").read_text())
    assert summary["compare"] == ["stops"] and summary["stops_effect"]["return_diff"] == effect["return_diff"]
    saved = load_run(tmp_path, "bt-stops")
    assert saved.comparison_equity is not None
    np.testing.assert_array_equal(saved.comparison_equity["stops"], off.result.equity)  # same bars, one chart
    html = render_run(saved).read_text()
    assert "pp net return" in html and "same run, stops off" in html and "Equity of the comparison runs" in html


def test_no_stops_comparison_is_skipped_with_a_note_when_stops_are_off(tmp_path: Path) -> None:
    eng = _store(tmp_path, tickers=3, days=2)
    setup = trading_setup(Settings(home=tmp_path), "1min", {"stops.mode": "off"})
    run = backtest_store(eng, timeframe="1min", strategy="sma", setup=setup)
    compared = comparison_runs(eng, run, ("stops",), timeframe="1min", setup=setup)
    assert compared.stops_effect is None and "stops are off in this run" in " ".join(compared.result.notes)


def test_no_sentiment_comparison_retrains_the_tft_without_sentiment_inputs(tmp_path: Path) -> None:
    """It traded the TFT trained *with* sentiment features and only dropped sentiment from the strategy."""
    eng = _store(tmp_path, tickers=3, days=4, comments=True)
    setup = trading_setup(Settings(home=tmp_path), "1min")
    run = backtest_store(eng, timeframe="1min", strategy="tft", forecast=FAST, setup=setup)
    varying = set(SENTIMENT_FEATURES) - {"sentiment_present"}  # constant 1 wherever comments exist: always left out
    assert run.model is not None and not varying & set(run.model["inputs_left_out"])  # type: ignore[arg-type]
    compared = comparison_runs(eng, run, ("no-sentiment",), forecast=FAST, timeframe="1min", setup=setup)
    rows = compared.comparison or []
    assert [r["key"] for r in rows] == ["this", "no-sentiment"]
    model = rows[1]["model"]
    assert isinstance(model, dict) and set(SENTIMENT_FEATURES) <= set(model["inputs_left_out"])


def test_without_sentiment_zeroes_only_the_sentiment_inputs() -> None:
    from tftrade.features.dataset import build_panel

    rng = np.random.default_rng(0)
    c = np.exp(np.cumsum(rng.normal(0, 0.01, (60, 2)), axis=0))
    p = build_panel(tickers=["A", "B"], sectors=["x", "x"], timestamps=np.arange(60) * 60 * 10**9, open_=c,
                    high=c, low=c, close=c, volume=np.ones((60, 2)), timeframe="1min",
                    sentiment_score=rng.uniform(-1, 1, (60, 2)), sentiment_count=np.ones((60, 2)))
    q = without_sentiment(p)
    cols = [p.observed_names.index(n) for n in SENTIMENT_FEATURES]
    assert np.abs(p.observed[..., cols]).sum() > 0 and not q.observed[..., cols].any()
    others = [i for i in range(len(p.observed_names)) if i not in cols]
    np.testing.assert_array_equal(q.observed[..., others], p.observed[..., others])


def test_model_verdict_names_what_the_run_traded_on() -> None:
    from tftrade.backtest.forecasts import ForecastPanel

    q = np.zeros((3, 2))
    zero = ForecastPanel(np.arange(3), ("A", "B"), 1, q, q, q, np.zeros((3, 2)))
    lost = {"status": "loses_to_baseline", "beaten_by": ["ridge"], "validation_q_risk": {"tft": 0.85, "ridge": 0.78}}
    v = model_verdict(zero, lost)
    assert not v["gives_views"] and v["traded_on"] == PRIOR
    assert v["banner"].startswith("The TFT gives no views: it loses to ridge (0.7800) on validation")
    assert "nothing" in model_verdict(zero, lost, min_confidence=0.1)["traded_on"]
    assert "no demonstrated skill" in model_verdict(zero, {"status": "ok"})["banner"]
    sure = dataclasses.replace(zero, confidence=np.full((3, 2), 0.4))
    assert model_verdict(sure, {"status": "ok"})["banner"] is None
    assert "traded anyway" in model_verdict(sure, {**lost, "forced": True})["banner"]


def test_a_run_without_views_leads_its_summary_and_page_with_the_banner(tmp_path: Path) -> None:
    """"TFT gives no views" sat in the last section's notes; now it is the summary's first entry and tops the page."""
    eng = _store(tmp_path, tickers=3, days=4)
    setup = trading_setup(Settings(home=tmp_path), "1min")
    base = backtest_store(eng, timeframe="1min", strategy="tft", forecast=FAST, setup=setup)
    assert base.forecasts is not None
    zero = dataclasses.replace(base.forecasts, confidence=np.where(np.isfinite(base.forecasts.confidence), 0.0,
                                                                   np.nan))
    lost = {"status": "loses_to_baseline", "beaten_by": ["ridge"], "validation_q_risk": {"tft": 0.9, "ridge": 0.8}}
    run = backtest_store(eng, timeframe="1min", strategy="tft", forecasts_given=zero, training=lost, setup=setup)
    assert run.model is not None and str(run.model["banner"]).startswith("The TFT gives no views")
    path = save_run(tmp_path, run, "bt-noviews")
    summary = json.loads((path / "summary.json").read_text())
    assert list(summary)[:2] == ["run_id", "banner"] and summary["banner"] == run.model["banner"]
    assert summary["model"]["traded_on"] == PRIOR and summary["model"]["gives_views"] is False
    html = render_run(load_run(tmp_path, "bt-noviews")).read_text()
    body = html[html.index("<body>"):]
    assert body.index('class="banner"') < body.index("<h2>") and "The TFT gives no views" in body
