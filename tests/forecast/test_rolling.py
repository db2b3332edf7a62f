"""The rolling forecaster (one bar's features and selection per bar) forecasts as ``tftrade predict`` does."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.forecast.tiny_model import tiny_model
from tftrade.backtest.market import MarketData
from tftrade.features.dataset import WARMUP, build_panel
from tftrade.features.errors import FeatureError
from tftrade.forecast.prediction import predict_latest
from tftrade.forecast.rolling import RollingForecaster
from tftrade.forecast.training import Trained

FIELDS = ("open", "high", "low", "close", "volume")


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[MarketData, Trained]]:
    yield from tiny_model(6, 8, samples=300)


def batch(m: MarketData, trained: Trained, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """``tftrade predict``'s forecasts (q10, q50, q90 as N × H × 3; confidence N × H) on rows ``start:end``."""
    panel = build_panel(tickers=list(m.tickers), sectors=list(m.sectors), timestamps=m.timestamps[start:end],
                        timeframe="1min", open_=m.open[start:end], high=m.high[start:end], low=m.low[start:end],
                        close=m.close[start:end], volume=m.volume[start:end])
    rows = predict_latest(trained, panel)
    n, h = len(m.tickers), trained.config.horizon
    q = np.asarray([[r.q10, r.q50, r.q90] for r in rows]).reshape(n, h, 3)
    return q, np.asarray([r.confidence_score for r in rows]).reshape(n, h)


def test_each_appended_bar_forecasts_as_predict_on_the_same_rows(setup: tuple[MarketData, Trained]) -> None:
    m, trained = setup
    assert trained.calibration is not None and trained.calibration.local_bars > 0  # the local volatility is used
    r = RollingForecaster(trained, m.tickers, m.sectors, "1min")
    first = WARMUP + trained.config.context - 1
    checked = 0
    for t in range(m.n_times):
        r.append(int(m.timestamps[t]), *(getattr(m, f)[t] for f in FIELDS))
        f = r.forecast()
        assert (f is None) == (t < first)
        if t in (first, first + 1, first + 40, m.n_times - 1):
            assert f is not None and f.timestamp_ns == m.timestamps[t]
            q, conf = batch(m, trained, 0, t + 1)
            np.testing.assert_allclose(f.quantiles, q, rtol=1e-5, atol=1e-9, err_msg=f"row {t}")
            np.testing.assert_allclose(f.confidence, conf, rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(f.close, m.close[t])
            checked += 1
    assert checked == 4
    assert r.streaming.selected_bars == m.n_times  # every bar went through variable selection once


def test_a_batch_of_bars_at_once_equals_them_one_by_one(setup: tuple[MarketData, Trained]) -> None:
    m, trained = setup
    one, many = (RollingForecaster(trained, m.tickers, m.sectors, "1min") for _ in range(2))
    for t in range(10, 150):
        one.append(int(m.timestamps[t]), *(getattr(m, f)[t] for f in FIELDS))
    many.extend(m.timestamps[10:150], *(getattr(m, f)[10:150] for f in FIELDS))
    a, b = one.forecast(), many.forecast()
    assert a is not None and b is not None
    np.testing.assert_allclose(b.quantiles, a.quantiles, rtol=1e-5, atol=1e-9)
    q, _ = batch(m, trained, 10, 150)
    np.testing.assert_allclose(b.quantiles, q, rtol=1e-5, atol=1e-9)
    assert len(many.features_hashes()) == len(m.tickers)


def test_a_missing_price_or_a_bar_out_of_order_starts_afresh(setup: tuple[MarketData, Trained]) -> None:
    m, trained = setup
    r = RollingForecaster(trained, m.tickers, m.sectors, "1min")
    r.extend(m.timestamps[:100], *(getattr(m, f)[:100] for f in FIELDS))
    assert r.ready
    close = m.close[100].copy()
    close[2] = np.nan
    with pytest.raises(FeatureError, match="close"):
        r.append(int(m.timestamps[100]), m.open[100], m.high[100], m.low[100], close, m.volume[100])
    assert not r.ready and r.last_ns is None and r.forecast() is None
    r.extend(m.timestamps[101:200], *(getattr(m, f)[101:200] for f in FIELDS))
    with pytest.raises(FeatureError, match="not after"):
        r.append(int(m.timestamps[150]), *(getattr(m, f)[150] for f in FIELDS))
    assert r.last_ns is None
    r.extend(m.timestamps[101:200], *(getattr(m, f)[101:200] for f in FIELDS))
    f = r.forecast()
    assert f is not None
    np.testing.assert_allclose(f.quantiles, batch(m, trained, 101, 200)[0], rtol=1e-5, atol=1e-9)
