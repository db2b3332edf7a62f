"""The live forecaster keeps the last C selected bars in a ring of 2C steps: the windows it forecasts are exactly
those of a forecaster fed only those C bars, however many bars went through and wherever the ring wrapped."""

from __future__ import annotations

import numpy as np
import torch

from tftrade.forecast.streaming import StreamingForecaster
from tftrade.forecast.tft.config import DataSchema, ModelConfig
from tftrade.forecast.tft.model import TemporalFusionTransformer


def _model() -> TemporalFusionTransformer:
    torch.manual_seed(3)
    schema = DataSchema(observed=["r", "v"], known=["dow", "tod"], static=["ticker_id"], static_cardinalities=[6],
                        tickers=[f"T{i}" for i in range(6)], sectors=["X"], timeframe="1min")
    m = TemporalFusionTransformer(schema, ModelConfig(hidden_size=8, attention_heads=2, context=5, horizon=2)).eval()
    with torch.no_grad():
        m.head.weight.normal_()
    return m


def test_the_ring_forecasts_exactly_the_last_c_bars_with_and_without_a_prefix() -> None:
    m = _model()
    c, h, n = m.config.context, m.config.horizon, 6
    g = np.random.default_rng(5)
    steps = 4 * c + 3  # the ring (2C steps) wraps several times, also after a block of several bars
    obs = g.standard_normal((n, steps, 2)).astype(np.float32)
    known = g.standard_normal((n, steps, 2)).astype(np.float32)
    future = g.standard_normal((n, h, 2)).astype(np.float32)
    static = np.arange(n)[:, None]
    times = np.arange(steps, dtype=np.int64) * 60
    live = StreamingForecaster(m)
    live.append_bars(static, times[:3], obs[:, :3], known[:, :3])  # a block first, then bar by bar
    prefixed = 0
    for t in range(3, steps):
        if t % 3:
            live.prepare(future)  # some bars run on a prefix, some on the whole window
        live.append_bars(static, times[t : t + 1], obs[:, t : t + 1], known[:, t : t + 1])
        if t + 1 < c:
            continue
        fresh = StreamingForecaster(m)
        lo = t + 1 - c
        fresh.append_bars(static, times[lo : t + 1], obs[:, lo : t + 1], known[:, lo : t + 1])
        assert np.array_equal(live._times, fresh._times)
        assert live._selected is not None and fresh._selected is not None
        assert torch.equal(live._selected, fresh._selected)
        before = live.prefix_forecasts
        got = live.forecast_latest(future)
        prefixed += live.prefix_forecasts - before
        want = fresh.forecast_latest(future)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)  # prefix + rest: the same operations, split
        if live.prefix_forecasts == before:
            assert np.array_equal(got, want)  # the whole window from the ring: bit for bit
    assert prefixed > 0
