"""Many windows at once (walk-forward): same numbers as the latest-bar path, unscaled, checked input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tftrade.features.dataset import WARMUP, Panel, WindowIndex, windows
from tftrade.features.errors import FeatureError
from tftrade.forecast.errors import InsufficientHistoryError
from tftrade.forecast.prediction import forecast_windows, predict_latest
from tftrade.forecast.training import Trained


def _upto(panel: Panel, row: int) -> Panel:
    cut = slice(0, row + 1)
    return replace(panel, observed=panel.observed[cut], known=panel.known[cut], returns=panel.returns[cut],
                   close=panel.close[cut], timestamps=panel.timestamps[cut])


def test_windows_equal_the_latest_bar_forecast_made_then(trained: Trained, panel: Panel) -> None:
    n, h = len(panel.tickers), trained.config.horizon
    origin = panel.n_times - 1 - h
    idx = windows(n, origin - 20, origin)
    q, sigma = forecast_windows(trained, panel, idx, chunk=37)
    assert q.shape == (len(idx), h, len(trained.config.quantiles)) and q.dtype == np.float64
    np.testing.assert_allclose(sigma, trained.standardizer.target_scale[idx.cols])
    then = predict_latest(trained, _upto(panel, origin))  # calendar-derived future inputs = the panel's rows
    at_origin = q[idx.origins == origin]  # tickers in column order
    for r in then:
        k = panel.tickers.index(r.ticker)
        np.testing.assert_allclose([r.q10, r.q50, r.q90], at_origin[k, r.horizon - 1], rtol=1e-5, atol=1e-8)
    assert np.all(np.diff(q, axis=-1) >= 0)


def test_chunking_does_not_change_results(trained: Trained, panel: Panel) -> None:
    idx = windows(len(panel.tickers), panel.n_times - 30, panel.n_times - 1)
    a, _ = forecast_windows(trained, panel, idx, chunk=7)
    b, _ = forecast_windows(trained, panel, idx, chunk=4096)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_origins_out_of_range_and_nan_windows_are_errors(trained: Trained, panel: Panel) -> None:
    early = WindowIndex(np.array([WARMUP]), np.array([0]))
    with pytest.raises(InsufficientHistoryError, match="origins"):
        forecast_windows(trained, panel, early)
    observed = panel.observed.copy()
    observed[-3, 2, 1] = np.nan
    broken = replace(panel, observed=observed)
    with pytest.raises(FeatureError, match=panel.tickers[2]):
        forecast_windows(trained, broken, windows(len(panel.tickers), panel.n_times - 2, panel.n_times - 1))
    ok, _ = forecast_windows(trained, broken, windows(len(panel.tickers), panel.n_times - 8, panel.n_times - 4))
    assert len(ok) == 5 * len(panel.tickers) and np.isfinite(ok).all()  # windows ending before the NaN bar
