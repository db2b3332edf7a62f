"""Prediction: quantiles and confidence, persistence, store writes, registry, explanation, bad input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from tftrade.features.dataset import WARMUP, Panel
from tftrade.features.errors import FeatureError
from tftrade.forecast.errors import InsufficientHistoryError, ModelNotFoundError, UnknownTickerError
from tftrade.forecast.explain import explain
from tftrade.forecast.persistence import load_model, save_model
from tftrade.forecast.prediction import confidence_score, predict_latest, write_predictions
from tftrade.forecast.registry import ModelRegistry
from tftrade.forecast.training import Trained


def test_forecasts_cover_every_ticker_and_horizon(trained: Trained, panel: Panel) -> None:
    rows = predict_latest(trained, panel, "v1")
    assert len(rows) == len(panel.tickers) * trained.config.horizon
    for r in rows:
        assert r.q10 <= r.q50 <= r.q90
        assert 0 <= r.confidence_score < 1 and not r.stale and r.bar_age_seconds == 0
        assert r.predicted_return == r.q50
        assert len(r.features_hash) == 64


def test_confidence_is_the_calibrated_skill_not_the_interval_width(trained: Trained) -> None:
    q = np.zeros((4, trained.config.horizon, 3))
    q[..., 0], q[..., 2] = -0.02, 0.02
    q[:, :, 1] = np.array([0.0, 0.001, 0.01, 0.02])[:, None]  # same width, stronger medians
    c = confidence_score(trained, q)
    assert (c[0] == 0).all()  # a zero median has no edge
    skilled = [k for k, h in enumerate(trained.calibration.horizons) if h.beats_zero]  # type: ignore[union-attr]
    assert skilled and np.all(np.diff(c[:, skilled], axis=0) >= 0) and c[3, skilled].max() > 0
    unskilled = [k for k in range(trained.config.horizon) if k not in skilled]
    assert (c[:, unskilled] == 0).all()


def test_save_load_predict_identical(trained: Trained, panel: Panel, tmp_path: Path) -> None:
    again = load_model(save_model(trained, tmp_path / "m"))
    assert predict_latest(trained, panel) == predict_latest(again, panel)


def test_predictions_are_written_to_the_store(trained: Trained, panel: Panel, tmp_path: Path) -> None:
    from tftrade.store.engine import make_engine
    from tftrade.store.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    rows = predict_latest(trained, panel.select(panel.tickers[:2]), "7")
    assert write_predictions(engine, rows) == 2 * trained.config.horizon
    with engine.connect() as conn:
        got = conn.execute(text("select ticker, horizon, model_version, features_hash from tft_predictions")).all()
    assert {(g[0], g[1]) for g in got} == {(r.ticker, r.horizon) for r in rows}
    assert all(g[2] == "7" and len(g[3]) == 64 for g in got)


def test_registry_round_trip_and_latest_version(trained: Trained, panel: Panel, tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "home")
    with pytest.raises(ModelNotFoundError):
        reg.load()
    v1 = reg.register(trained, {"preset": "test"}, {"q_risk_p50": 0.8})
    v2 = reg.register(trained, {"preset": "test"}, {"q_risk_p50": 0.8})
    assert (v1, v2) == ("1", "2")
    loaded, version = reg.load()
    assert version == "2"
    assert predict_latest(loaded, panel) == predict_latest(trained, panel)
    with pytest.raises(ModelNotFoundError, match="no version"):
        reg.load("9")


def test_explanation_per_model_and_per_ticker(trained: Trained, panel: Panel) -> None:
    model_level = explain(trained, panel)
    one = explain(trained, panel, panel.tickers[0])
    for e in (model_level, one):
        assert sum(e.encoder.values()) == pytest.approx(1, abs=1e-4)
        assert sum(e.decoder.values()) == pytest.approx(1, abs=1e-4)
        assert len(e.attention) == trained.config.context
        assert set(e.static) == {"ticker_id", "sector_id"}


def test_unknown_ticker_is_an_error(trained: Trained, panel: Panel) -> None:
    stranger = replace(panel.select(panel.tickers[:1]), tickers=["ZZZZ"])
    with pytest.raises(UnknownTickerError, match="ZZZZ"):
        predict_latest(trained, stranger)


def test_too_little_history_is_an_error(trained: Trained, panel: Panel) -> None:
    short = replace(panel, observed=panel.observed[: WARMUP + 3], known=panel.known[: WARMUP + 3],
                    returns=panel.returns[: WARMUP + 3], close=panel.close[: WARMUP + 3],
                    timestamps=panel.timestamps[: WARMUP + 3])
    with pytest.raises(InsufficientHistoryError, match="needs at least"):
        predict_latest(trained, short)


def test_nan_in_last_window_is_an_error(trained: Trained, panel: Panel) -> None:
    observed = panel.observed.copy()
    observed[-2, 1, 0] = np.nan
    with pytest.raises(FeatureError, match=panel.tickers[1]):
        predict_latest(trained, replace(panel, observed=observed))
