"""Features: causality (no look-ahead), windows cut from the panel, training-window scalers, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.features.dataset import WARMUP, Panel, gather, windows
from tftrade.features.errors import FeatureError
from tftrade.features.scaling import Standardizer
from tftrade.features.sentiment import aggregate_comments
from tftrade.features.technical import ema, rsi
from tftrade.forecast.data import panel_from_market, time_splits


@pytest.fixture(scope="module")
def market():  # type: ignore[no-untyped-def]
    return generate_market(SyntheticConfig(n_tickers=4, days=1, seed=2, timeframe="1min"))


def _perturbed(market, t: int):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    scale = np.ones_like(market.close)
    scale[t + 1 :] = 1.5
    return replace(market, open=market.open * scale, high=market.high * scale ** 1.1, low=market.low * scale,
                   close=market.close * scale, volume=(market.volume * scale**2).astype(np.int64),
                   sentiment=np.where(scale > 1, market.sentiment + 1, market.sentiment))


def test_features_at_or_before_t_ignore_later_data(market) -> None:  # type: ignore[no-untyped-def]
    t = 200
    a = panel_from_market(market, "latent")
    b = panel_from_market(_perturbed(market, t), "latent")
    np.testing.assert_array_equal(a.observed[: t + 1], b.observed[: t + 1])
    assert not np.allclose(a.observed[t + 1 :], b.observed[t + 1 :])


def test_ema_matches_pandas() -> None:
    x = np.random.default_rng(0).normal(size=(50, 3))
    np.testing.assert_allclose(ema(x, 7), pd.DataFrame(x).ewm(span=7, adjust=False).mean().to_numpy())


def test_rsi_is_bounded_and_one_for_rising_prices() -> None:
    close = np.exp(np.cumsum(np.full((60, 1), 0.01), axis=0))
    r = rsi(close)
    assert r[-1, 0] == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.abs(r) <= 1.0 + 1e-9)


def test_windows_are_cut_from_the_panel_and_targets_are_cumulative(market) -> None:  # type: ignore[no-untyped-def]
    panel = panel_from_market(market, "none")
    idx = windows(panel.observed.shape[1], WARMUP + 9, WARMUP + 20)
    batch = gather(panel, idx, context=10, horizon=3)
    o, i = int(idx.origins[5]), int(idx.cols[5])
    np.testing.assert_allclose(batch.observed[5], panel.observed[o - 9 : o + 1, i], rtol=1e-6)
    np.testing.assert_allclose(batch.known[5], panel.known[o - 9 : o + 4, i], rtol=1e-6)
    expected = np.log(panel.close[o + 1 : o + 4, i] / panel.close[o, i])
    np.testing.assert_allclose(batch.target[5], expected, rtol=1e-4, atol=1e-7)
    assert batch.observed.shape == (len(idx), 10, len(panel.observed_names))
    assert batch.observed.dtype == np.float32 and batch.observed.flags.c_contiguous
    assert panel.window_arrays(3) is panel.window_arrays(3)  # built once per panel and horizon


def test_a_replaced_panel_does_not_reuse_old_window_arrays(market) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    panel = panel_from_market(market, "none")
    idx = windows(panel.observed.shape[1], WARMUP + 9, WARMUP + 12)
    before = gather(panel, idx, context=10, horizon=3)
    changed = replace(panel, observed=panel.observed + 1.0)
    after = gather(changed, idx, context=10, horizon=3)
    np.testing.assert_allclose(after.observed, before.observed + 1.0, rtol=1e-5)


def test_scaler_is_fitted_on_training_rows_only(market) -> None:  # type: ignore[no-untyped-def]
    panel = panel_from_market(market, "latent")
    splits = time_splits(panel.n_times, 20, 5)
    s1 = Standardizer.fit(panel.observed, panel.returns, WARMUP, splits.train_end)
    later = panel.observed.copy()
    later[splits.train_end :] *= 100
    s2 = Standardizer.fit(later, panel.returns, WARMUP, splits.train_end)
    np.testing.assert_array_equal(s1.mean, s2.mean)
    np.testing.assert_array_equal(s1.scale, s2.scale)


def test_sentiment_absent_gives_zero_features_and_flag(market) -> None:  # type: ignore[no-untyped-def]
    panel: Panel = panel_from_market(market, "none")
    sent = [panel.observed_names.index(n) for n in panel.observed_names if n.startswith(("sentiment", "comment"))]
    assert np.all(panel.observed[..., sent] == 0)
    with_comments = panel_from_market(market, "comments")
    assert with_comments.observed[..., panel.observed_names.index("sentiment_present")].min() == 1


def test_comment_aggregation_counts_each_comment_once(market) -> None:  # type: ignore[no-untyped-def]
    score, count = aggregate_comments(market.comments, market.timestamps, market.tickers, "true_tone")
    assert count.sum() == market.comments["true_tone"].notna().sum()
    assert np.all(np.isnan(score) == (count == 0))


def test_nan_price_is_rejected_with_ticker_named(market) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    close = market.close.copy()
    close[10, 2] = np.nan
    with pytest.raises(FeatureError, match=market.tickers[2]):
        panel_from_market(replace(market, close=close), "none")


def test_too_short_history_is_rejected() -> None:
    with pytest.raises(FeatureError, match="too few"):
        time_splits(80, 60, 5)
