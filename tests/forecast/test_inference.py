"""Forecasting many windows with shared bars selected once equals the plain forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tftrade.features.dataset import Panel, WindowIndex, gather
from tftrade.forecast import inference
from tftrade.forecast.inference import forecast_scaled, to_tensors
from tftrade.forecast.training import Trained


def _plain(trained: Trained, panel: Panel, idx: WindowIndex) -> np.ndarray:
    c, h = trained.config.context, trained.config.horizon
    with torch.inference_mode():
        return trained.model.eval()(*to_tensors(gather(panel, idx, c, h))).quantiles.numpy()


@pytest.mark.parametrize("budget", [1 << 25, 200])  # one group of tickers, or one ticker per group
def test_shared_bars_equal_the_plain_forward(trained: Trained, panel: Panel, budget: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference, "ROW_BUDGET", budget)
    scaled = panel.scaled(trained.standardizer)
    c, n = trained.config.context, len(panel.tickers)
    rng = np.random.default_rng(0)
    origins = np.arange(scaled.n_times - 40, scaled.n_times - 5)
    idx = WindowIndex(np.repeat(origins, n), np.tile(np.arange(n), len(origins)))
    idx = idx.take(rng.permutation(len(idx)))  # any order, tickers interleaved
    assert len(np.unique(idx.cols)) * (40 - 5 + c) * 2 <= len(idx) * c  # overlap: the shared path runs
    got = forecast_scaled(trained.model, scaled, idx, chunk=97)
    np.testing.assert_allclose(got, _plain(trained, scaled, idx), rtol=1e-5, atol=1e-6)


def test_windows_without_overlap_take_the_plain_path(trained: Trained, panel: Panel,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    scaled = panel.scaled(trained.standardizer)
    n = len(panel.tickers)
    idx = WindowIndex(np.full(n, scaled.n_times - 1, np.int64), np.arange(n, dtype=np.int64))
    monkeypatch.setattr(inference, "_forecast_columns", lambda *a: pytest.fail("shared path used"))
    np.testing.assert_array_equal(forecast_scaled(trained.model, scaled, idx), _plain(trained, scaled, idx))


def test_no_windows(trained: Trained, panel: Panel) -> None:
    empty = WindowIndex(np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert forecast_scaled(trained.model, panel.scaled(trained.standardizer), empty).shape == (
        0, trained.config.horizon, len(trained.config.quantiles))
