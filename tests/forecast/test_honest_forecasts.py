"""Forecasts that do not claim skill they lack (issue 13, section 3).

Confidence is demonstrated validation skill (0 on a random walk, high on the planted market, with a
hit rate that rises with it); 10–90 intervals are calibrated on validation; inputs absent from the
data are left out of selection and shown as absent; price-only series are used with their OHLC
inputs masked; a model that loses to a baseline is marked.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tftrade.data.synthetic import generate_market
from tftrade.features.dataset import OHLC_INPUTS, Panel, build_panel
from tftrade.forecast.data import panel_from_bars, panel_from_market
from tftrade.forecast.evaluation import evaluate, reliability_table
from tftrade.forecast.explain import explain
from tftrade.forecast.persistence import load_model, save_model
from tftrade.forecast.prediction import predict_latest
from tftrade.forecast.training import Trained, fit

from .conftest import FAST, MARKET, SMALL


def _random_walk(n: int = 20, t: int = 300, seed: int = 0) -> Panel:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (t, n)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.003, (t, n))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.003, (t, n))))
    ts = pd.bdate_range("2023-01-02", periods=t, tz="America/New_York").tz_convert("UTC").as_unit("ns").asi8
    return build_panel(tickers=[f"R{i}" for i in range(n)], sectors=["s"] * n, timestamps=ts, open_=open_,
                       high=high, low=low, close=close, volume=rng.uniform(1e5, 2e5, (t, n)), timeframe="1day")


@pytest.fixture(scope="module")
def walk() -> tuple[Panel, Trained]:
    panel = _random_walk()
    return panel, fit(panel, SMALL, FAST)


def test_confidence_is_near_zero_on_a_random_walk(walk: tuple[Panel, Trained]) -> None:
    panel, trained = walk
    rows = reliability_table(trained, panel)
    mean = sum(r["windows"] * r["mean_confidence"] for r in rows) / sum(r["windows"] for r in rows)
    assert mean < 0.03
    assert np.mean([p.confidence_score for p in predict_latest(trained, panel)]) < 0.03
    assert not any(h.beats_zero for h in trained.calibration.horizons)  # type: ignore[union-attr]


def test_confidence_is_high_on_the_planted_market_and_the_hit_rate_rises_with_it(
    trained: Trained, panel: Panel
) -> None:
    rows = reliability_table(trained, panel)
    windows = np.array([r["windows"] for r in rows], dtype=float)
    conf = np.array([r["mean_confidence"] for r in rows])
    hit = np.array([r["hit_rate"] for r in rows])
    assert (windows * conf).sum() / windows.sum() > 0.25
    assert len(rows) >= 3 and hit[-1] > hit[0] + 0.1
    w = windows / windows.sum()
    cov = (w * (conf - (w * conf).sum()) * (hit - (w * hit).sum())).sum()
    assert cov > 0  # the hit rate rises with the confidence
    assert all({"windows", "mean_confidence", "expected_hit_rate", "hit_rate"} <= set(r) for r in rows)


@pytest.mark.parametrize("market", ["planted", "random_walk"])
def test_test_coverage_of_the_10_90_interval_is_80_percent(
    market: str, trained: Trained, panel: Panel, walk: tuple[Panel, Trained]
) -> None:
    p, t = (panel, trained) if market == "planted" else walk
    assert evaluate(t, p)["tft"]["coverage_10_90"] == pytest.approx(0.80, abs=0.03)


def test_calibration_survives_save_and_load(trained: Trained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    again = load_model(save_model(trained, tmp_path / "m"))
    assert again.calibration == trained.calibration and again.schema.absent == trained.schema.absent


def test_absent_inputs_are_left_out_of_selection_and_shown_as_absent() -> None:
    market = generate_market(MARKET.model_copy(update={"n_tickers": 8, "days": 200}))
    panel = panel_from_market(market, "none")  # no social data; earnings_every=5000: no earnings dates
    trained = fit(panel, SMALL, FAST.model_copy(update={"max_epochs": 1, "max_samples_per_epoch": 500}))
    exp = explain(trained, panel)
    sentiment = [n for n in panel.observed_names if n.startswith(("sentiment", "comment"))]
    assert set(sentiment) | {"earnings_day"} <= set(exp.absent)
    assert not set(exp.absent) & (set(exp.encoder) | set(exp.decoder))
    assert sum(exp.encoder.values()) == pytest.approx(1, abs=1e-4)
    assert len(trained.schema.encoder_variables) == len(panel.observed_names) + len(panel.known_names) - len(
        exp.absent)


def _bars(market_cfg_days: int = 200, n: int = 6, price_only: int = 2) -> pd.DataFrame:
    market = generate_market(MARKET.model_copy(update={"n_tickers": n, "days": market_cfg_days}))
    bars = market.bars_frame().assign(price_only=False)
    po = bars["ticker"].isin(market.tickers[:price_only])
    for c in ("open", "high", "low"):
        bars.loc[po, c] = bars.loc[po, "close"]
    bars.loc[po, "volume"] = 0
    bars.loc[po, "price_only"] = True
    return bars


def test_price_only_series_are_used_with_their_ohlc_inputs_masked() -> None:
    bars = _bars()
    panel = panel_from_bars(bars, "1day")
    po = sorted(bars.loc[bars["price_only"], "ticker"].unique())
    assert panel.input_mask is not None
    cols = [panel.observed_names.index(n) for n in OHLC_INPUTS]
    for i, t in enumerate(panel.tickers):
        assert panel.input_mask[i, cols].all() == (t not in po)
    trained = fit(panel, SMALL, FAST.model_copy(update={"max_epochs": 1, "max_samples_per_epoch": 500}))
    assert not set(OHLC_INPUTS) & set(trained.schema.absent)  # the OHLC tickers still carry them
    scaled = panel.scaled(trained.standardizer)
    masked = [panel.tickers.index(t) for t in po]
    assert (scaled.observed[:, masked][..., [scaled.observed_names.index(n) for n in OHLC_INPUTS]] == 0).all()
    assert {r.ticker for r in predict_latest(trained, panel)} == set(panel.tickers)

    only = panel_from_bars(bars[bars["price_only"]], "1day")  # every series price-only: the inputs are absent
    t2 = fit(only, SMALL, FAST.model_copy(update={"max_epochs": 1, "max_samples_per_epoch": 200}))
    assert set(OHLC_INPUTS) <= set(t2.schema.absent)


def test_a_model_beaten_by_a_baseline_on_validation_is_marked(trained: Trained) -> None:
    cal = trained.calibration
    assert cal is not None and set(cal.validation_q_risk) == {"tft", "zero_return", "trailing_mean", "ridge"}
    losers = sorted(k for k, v in cal.validation_q_risk.items() if k != "tft" and v < cal.validation_q_risk["tft"])
    assert cal.beaten_by == losers and (trained.status == "loses_to_baseline") == bool(losers)


def test_stale_window_gets_no_confidence_and_its_age(trained: Trained, panel: Panel) -> None:
    head = replace(panel, timestamps=panel.timestamps[:-3], observed=panel.observed[:-3], known=panel.known[:-3],
                   returns=panel.returns[:-3], close=panel.close[:-3])
    rows = predict_latest(trained, head, "v", reference_ns=int(panel.timestamps[-1]))
    age = (int(panel.timestamps[-1]) - int(panel.timestamps[-4])) / 1e9
    assert all(r.stale and r.bar_age_seconds == age and r.confidence_score == 0 for r in rows)


def test_black_litterman_omega_is_fed_from_the_confidence() -> None:
    from tftrade.portfolio.views import views_from_forecasts

    p50, lo, hi = [0.01, 0.01, 0.01], [-0.01, -0.01, -0.01], [0.03, 0.03, 0.03]
    full = views_from_forecasts(p50, lo, hi, horizon=5)
    v = views_from_forecasts(p50, lo, hi, horizon=5, forecast_confidence=[1.0, 0.25, 0.0])
    assert v.assets.tolist() == [0, 1]  # no demonstrated skill: no view
    assert v.omega.tolist() == pytest.approx([full.omega[0], 4 * full.omega[1]])


def test_a_forecast_without_skill_does_not_move_the_portfolio() -> None:
    from tftrade.backtest import AccountState, MarketData, MarketView
    from tftrade.backtest.forecasts import ForecastPanel
    from tftrade.portfolio import OptimizerConfig
    from tftrade.strategy.forecast_strategy import ForecastStrategy, StrategyConfig

    t, n, day = 80, 8, 86_400_000_000_000
    close = 50 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.01, (t, n)), axis=0))
    market = MarketData(np.arange(t, dtype=np.int64) * day, tuple(f"T{i}" for i in range(n)),
                        tuple(f"S{i % 4}" for i in range(n)), close, close * 1.01, close * 0.99, close,
                        np.full((t, n), 1e6), "1day", benchmark=close.mean(axis=1), vix=np.full(t, 20.0))
    cfg = StrategyConfig(lookback=60, optimizer=OptimizerConfig(max_weight=0.3, max_sector_weight=0.6, beta_min=-5,
                                                                beta_max=5))

    def weights(p50: np.ndarray, conf: float) -> np.ndarray:
        q50 = np.tile(p50, (t, 1))
        fc = ForecastPanel(market.timestamps, market.tickers, 5, q50 - 0.02, q50, q50 + 0.02, np.full((t, n), conf))
        out = ForecastStrategy(fc, config=cfg).decide(MarketView(market, t - 1), AccountState(1e6, 1e6, np.zeros(n),
                                                                                            np.zeros(n)))
        assert out is not None
        return np.asarray(out.weights)

    up, down = np.linspace(-0.02, 0.02, n), np.linspace(0.02, -0.02, n)
    assert np.abs(weights(up, 1.0) - weights(down, 1.0)).max() > 0.05  # skilled forecasts move weights
    np.testing.assert_allclose(weights(up, 0.0), weights(down, 0.0), atol=1e-6)  # unskilled ones do not
