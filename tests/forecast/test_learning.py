"""The model learns the planted sentiment lead, beats the random walk, and is reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from tftrade.features.dataset import Panel
from tftrade.forecast.evaluation import evaluate
from tftrade.forecast.explain import explain
from tftrade.forecast.training import TrainConfig, Trained, fit

from .conftest import SMALL


@pytest.fixture(scope="module")
def scores(trained: Trained, panel: Panel) -> dict[str, dict[str, float]]:
    return evaluate(trained, panel)


def test_tft_beats_zero_return_p50_q_risk_by_ten_percent(scores: dict[str, dict[str, float]]) -> None:
    assert scores["tft"]["q_risk_p50"] <= 0.9 * scores["zero_return"]["q_risk_p50"]
    assert scores["tft"]["directional_accuracy"] > 0.6
    assert scores["tft"]["ic"] > 0.3


def test_every_baseline_is_scored_on_the_same_windows(scores: dict[str, dict[str, float]]) -> None:
    assert set(scores) == {"tft", "zero_return", "trailing_mean", "ridge"}
    assert scores["zero_return"]["q_risk_p50"] == pytest.approx(1.0)
    for metrics in scores.values():
        assert {"q_risk_p10", "q_risk_p90", "mae", "rank_ic", "coverage_10_90", "price_mape_pct"} <= set(metrics)


def test_planted_sentiment_driver_ranks_top_three(trained: Trained, panel: Panel) -> None:
    assert "sentiment_score" in explain(trained, panel).top_encoder(3)


def test_same_seed_gives_same_metrics(panel: Panel) -> None:
    tiny = TrainConfig(max_epochs=1, batch_size=256, max_samples_per_epoch=256, seed=7)
    a, b = fit(panel, SMALL, tiny), fit(panel, SMALL, tiny)
    assert a.history == b.history
    assert evaluate(a, panel)["tft"] == evaluate(b, panel)["tft"]


def test_resume_from_checkpoint_matches_uninterrupted_run(panel: Panel, tmp_path) -> None:  # type: ignore[no-untyped-def]
    two = TrainConfig(max_epochs=2, batch_size=256, max_samples_per_epoch=128, seed=1, patience=5)
    straight = fit(panel, SMALL, two)
    fit(panel, SMALL, two.model_copy(update={"max_epochs": 1}), checkpoint_dir=tmp_path)
    resumed = fit(panel, SMALL, two, checkpoint_dir=tmp_path)
    assert resumed.history == straight.history
    for (k, v), w in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert np.array_equal(v.numpy(), w.numpy()), k
