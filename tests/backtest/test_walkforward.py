"""Walk-forward forecasts: out of sample only, unchanged by later bars, and useful on the planted market."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tftrade.backtest import BacktestConfig, MarketData, run_backtest
from tftrade.backtest.forecasts import realised_returns
from tftrade.backtest.walkforward import forecast_rows, walk_forward
from tftrade.data.synthetic import SyntheticConfig, generate_market
from tftrade.execution.costs import CostModel
from tftrade.features.dataset import Panel
from tftrade.forecast.data import panel_from_market
from tftrade.forecast.tft.config import ModelConfig
from tftrade.forecast.training import TrainConfig
from tftrade.portfolio import OptimizerConfig
from tftrade.strategy.forecast_strategy import ForecastStrategy, StrategyConfig

CONFIG = SyntheticConfig(n_tickers=12, days=220, seed=5, timeframe="1day", sentiment_r2=0.4, jump_prob=0.0,
                         earnings_every=5000, spam_bursts=0, comments_per_bar=0.0)
MODEL = ModelConfig(hidden_size=8, attention_heads=2, dropout=0.0, context=10, horizon=3)
TRAIN = TrainConfig(max_epochs=4, batch_size=256, learning_rate=1e-2, max_samples_per_epoch=2000, seed=0,
                    split=(0.45, 0.1))


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    market = generate_market(CONFIG)
    panel = panel_from_market(market, "latent")
    forecasts, trained = walk_forward(panel, MODEL, TRAIN)
    return market, panel, forecasts, trained


def _head(panel: Panel, end: int, horizon: int) -> Panel:
    """The panel cut at ``end``; the calendar (known-future) inputs of the next bars stay known, as live."""
    return replace(panel, timestamps=panel.timestamps[:end], observed=panel.observed[:end], known=panel.known[:end],
                   returns=panel.returns[:end], close=panel.close[:end],
                   known_future=panel.known[end:end + horizon])


def test_forecasts_start_after_the_fitted_rows(setup) -> None:  # type: ignore[no-untyped-def]
    _, _, fc, trained = setup
    first = int(np.argmax(np.isfinite(fc.q50).any(axis=1)))
    assert first == trained.splits.val_end - 1
    assert np.isnan(fc.q50[:first]).all() and np.isfinite(fc.q50[first:]).all()
    assert (fc.q10[first:] <= fc.q90[first:]).all() and fc.horizon == 3
    assert fc.importance is not None and set(fc.importance) == {"static", "encoder", "decoder"}


def test_later_bars_never_change_earlier_forecasts(setup) -> None:  # type: ignore[no-untyped-def]
    _, panel, fc, trained = setup
    first = int(np.argmax(np.isfinite(fc.q50).any(axis=1)))
    cut = first + 30
    short = forecast_rows(trained, _head(panel, cut, 3), first, 3)
    np.testing.assert_allclose(short[1][first:cut], fc.q50[first:cut], rtol=1e-5, atol=1e-7)


def test_forecasts_rank_realised_returns_and_the_strategy_uses_them(setup) -> None:  # type: ignore[no-untyped-def]
    market, _, fc, _ = setup
    first = int(np.argmax(np.isfinite(fc.q50).any(axis=1)))
    real = realised_returns(market.close, 3)
    rows = range(first, market.close.shape[0] - 3)
    ic = np.nanmean([np.corrcoef(fc.q50[t], real[t])[0, 1] for t in rows])
    assert ic > 0.05  # the planted sentiment lead is visible out of sample

    m = MarketData(market.timestamps, tuple(market.tickers), tuple(s.sector for s in market.securities),
                   market.open, market.high, market.low, market.close, market.volume.astype(float), "1day",
                   benchmark=np.cumprod(1 + market.market_returns) * 100, vix=np.full(len(market.timestamps), 15.0))
    cfg = StrategyConfig(lookback=60, optimizer=OptimizerConfig(max_weight=0.3, max_sector_weight=0.6,
                                                                beta_min=-5, beta_max=5))
    res = run_backtest(m, ForecastStrategy(fc, config=cfg), config=BacktestConfig(warmup=first, stop_loss=None,
                                                                                  take_profit=None),
                       costs=CostModel.none())
    assert res.decisions == len(range(first, m.n_times - 0)) and len(res.trades) > 0
    assert all("P50" in t.rationale for t in res.trades)
