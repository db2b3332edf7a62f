"""Real data (``../shared/data``): training completes and reports metrics against baselines, the
calibrated 10–90 interval covers 80 % ± 3 of the test outcomes, and no skill is claimed.

No skill is asserted on real data; the numbers are in docs/forecast.md.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tftrade.core.config import Settings
from tftrade.features.dataset import Panel
from tftrade.forecast.evaluation import evaluate, reliability_table
from tftrade.forecast.realdata import dow_1min, sp500_daily
from tftrade.forecast.tft.config import ModelConfig
from tftrade.forecast.training import TrainConfig, fit

SHARED = Settings(home=Path("unused")).shared_data
TINY = ModelConfig(hidden_size=8, attention_heads=2, dropout=0.0, context=20, horizon=5)
ONE = TrainConfig(max_epochs=1, max_samples_per_epoch=1000, batch_size=250)


def _check(panel: Panel) -> list[str]:
    trained = fit(panel, TINY, ONE)
    scores = evaluate(trained, panel)
    assert set(scores) == {"tft", "zero_return", "trailing_mean", "ridge"}
    assert all(math.isfinite(v) for m in scores.values() for k, v in m.items() if k not in ("ic", "rank_ic"))
    assert abs(scores["tft"]["coverage_10_90"] - 0.80) <= 0.03
    rows = reliability_table(trained, panel)
    assert sum(r["windows"] * r["mean_confidence"] for r in rows) / sum(r["windows"] for r in rows) < 0.05
    return trained.schema.absent


@pytest.mark.skipif(not (SHARED / "sp500_daily").is_dir(), reason="shared data folder sp500_daily is absent")
def test_sp500_daily_run_reports_metrics() -> None:
    _check(sp500_daily(SHARED / "sp500_daily", n_tickers=8))


@pytest.mark.skipif(not (SHARED / "dow_1min").is_dir(), reason="shared data folder dow_1min is absent")
def test_dow_minute_run_reports_metrics() -> None:
    absent = _check(dow_1min(SHARED / "dow_1min", days=5))
    assert {"log_volume", "hl_range", "atr", "vwap_distance"} <= set(absent)  # prices only: OHLC inputs masked
