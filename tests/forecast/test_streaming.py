"""Bar-by-bar forecasting with cached encoder selection equals the plain forward pass at every bar."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tftrade.features.dataset import Panel, WindowIndex
from tftrade.forecast.errors import InsufficientHistoryError
from tftrade.forecast.inference import forecast_scaled
from tftrade.forecast.streaming import StreamingForecaster
from tftrade.forecast.training import Trained


def _plain(trained: Trained, panel: Panel, origin: int) -> np.ndarray:
    n = len(panel.tickers)
    latest = WindowIndex(np.full(n, origin, np.int64), np.arange(n, dtype=np.int64))
    return forecast_scaled(trained.model, panel, latest)


def test_each_bar_equals_the_plain_forward_and_selects_one_new_bar(trained: Trained, panel: Panel) -> None:
    scaled = panel.scaled(trained.standardizer)
    c = trained.config.context
    f = StreamingForecaster(trained.model)
    first = scaled.n_times - 30
    for k, origin in enumerate(range(first, scaled.n_times - 5)):
        np.testing.assert_allclose(f.forecast_at(scaled, origin), _plain(trained, scaled, origin),
                                   rtol=1e-5, atol=1e-6, err_msg=f"origin {origin}")
        assert f.selected_bars == c + k  # the first call selects C bars, each later one a single bar


def test_gaps_rewinds_repeats_and_other_panels_start_afresh(trained: Trained, panel: Panel) -> None:
    scaled = panel.scaled(trained.standardizer)
    c, last = trained.config.context, scaled.n_times - 6
    f = StreamingForecaster(trained.model)
    f.forecast_at(scaled, last - 20)
    for origin, selected in [(last - 17, 3), (last - 17, 0), (last, c), (last - 3, c)]:
        before = f.selected_bars
        np.testing.assert_allclose(f.forecast_at(scaled, origin), _plain(trained, scaled, origin), rtol=1e-5,
                                   atol=1e-6)
        assert f.selected_bars - before == selected, origin
    fewer = scaled.select(scaled.tickers[:4])
    before = f.selected_bars
    np.testing.assert_allclose(f.forecast_at(fewer, last), _plain(trained, fewer, last), rtol=1e-5, atol=1e-6)
    assert f.selected_bars - before == c  # other tickers: nothing reused
    rescaled = replace(panel, observed=panel.observed * 1.0).scaled(replace(trained.standardizer,
                                                                            mean=trained.standardizer.mean + 0.5))
    before = f.selected_bars
    f.forecast_at(rescaled.select(scaled.tickers[:4]), last)
    assert f.selected_bars - before == c  # another scaling: nothing reused


def test_too_little_history_is_an_error(trained: Trained, panel: Panel) -> None:
    f = StreamingForecaster(trained.model)
    with pytest.raises(InsufficientHistoryError, match="context"):
        f.forecast_at(panel.scaled(trained.standardizer), trained.config.context - 2)
