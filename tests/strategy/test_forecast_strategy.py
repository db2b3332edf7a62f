"""The BL strategy: forecasts move weights the right way, limits hold, regime and liquidity rules apply."""

from __future__ import annotations

import numpy as np
import pytest

from tftrade.backtest import AccountState, MarketData, MarketView
from tftrade.backtest.forecasts import ForecastPanel
from tftrade.portfolio import OptimizerConfig
from tftrade.strategy.forecast_strategy import ForecastStrategy, StrategyConfig
from tftrade.strategy.sentiment_input import SentimentPanel
from tftrade.strategy.signals import SignalConfig

T, N = 80, 12
DAY = 86_400_000_000_000


def market(vix: float = 20.0, volume: float = 1e6) -> MarketData:
    rng = np.random.default_rng(3)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, (T, N)), axis=0))
    return MarketData(np.arange(T, dtype=np.int64) * DAY, tuple(f"T{i}" for i in range(N)),
                      tuple(f"S{i % 6}" for i in range(N)), close, close * 1.01, close * 0.99, close,
                      np.full((T, N), volume), "1day", benchmark=close.mean(axis=1), vix=np.full(T, vix))


def forecasts(p50: np.ndarray, spread: float = 0.02, confidence: float = 1.0) -> ForecastPanel:
    q50 = np.tile(p50, (T, 1))  # confidence 1: full demonstrated skill, Ω from the spread alone
    return ForecastPanel(np.arange(T, dtype=np.int64) * DAY, tuple(f"T{i}" for i in range(N)), 5,
                         q50 - spread, q50, q50 + spread, np.full((T, N), confidence))


def account() -> AccountState:
    return AccountState(1e6, 1e6, np.zeros(N), np.zeros(N))


CFG = StrategyConfig(lookback=60, optimizer=OptimizerConfig(max_weight=0.2, max_sector_weight=0.4, beta_min=0.5,
                                                             beta_max=1.5))


def test_higher_forecasts_get_more_weight_and_limits_hold() -> None:
    p50 = np.linspace(-0.02, 0.02, N)
    targets = ForecastStrategy(forecasts(p50), config=CFG).decide(MarketView(market(), T - 1), account())
    assert targets is not None
    w = targets.weights
    assert w.sum() == pytest.approx(1.0, abs=1e-6) and w.max() <= 0.2 + 1e-6 and w.min() >= -1e-9
    assert np.corrcoef(w, p50)[0, 1] > 0.7
    sector = np.array([i % 6 for i in range(N)])
    assert max(w[sector == s].sum() for s in range(6)) <= 0.4 + 1e-6
    assert "P50 +2.000%" in targets.rationale[-1] and "target" in targets.rationale[-1]


def test_sentiment_that_agrees_tilts_towards_the_name() -> None:
    p50 = np.full(N, 0.005)
    fc = forecasts(p50, spread=0.05)
    view = MarketView(market(), T - 1)
    plain = ForecastStrategy(fc, config=CFG).decide(view, account())
    raw = np.zeros((T, N))
    raw[:, 0] = 0.9  # strong positive sentiment on T0 only
    sent = SentimentPanel(fc.timestamps, fc.tickers, raw)
    tilted = ForecastStrategy(fc, sent, config=CFG).decide(view, account())
    assert plain is not None and tilted is not None
    assert tilted.weights[0] > plain.weights[0] + 0.01


def test_vix_above_the_block_holds_the_book() -> None:
    targets = ForecastStrategy(forecasts(np.full(N, 0.01)), config=CFG).decide(MarketView(market(vix=40), T - 1),
                                                                               account())
    assert targets is not None and np.isnan(targets.weights).all()
    assert "VIX 40.0 above 35" in targets.notes[0]


def test_illiquid_names_are_skipped_with_a_reason() -> None:
    cfg = CFG.model_copy(update={"signals": SignalConfig(min_dollar_adv=1e12)})
    targets = ForecastStrategy(forecasts(np.full(N, 0.01)), config=cfg).decide(MarketView(market(), T - 1), account())
    assert targets is None  # nothing tradable


def test_no_forecast_at_this_time_means_no_decision() -> None:
    fc = forecasts(np.full(N, 0.01))
    q = fc.q50.copy()
    q[-1] = np.nan
    fc = ForecastPanel(fc.timestamps[:-1], fc.tickers, 5, fc.q10[:-1], fc.q50[:-1], fc.q90[:-1], fc.confidence[:-1])
    assert ForecastStrategy(fc, config=CFG).decide(MarketView(market(), T - 1), account()) is None


def test_a_decision_with_less_history_than_the_lookback_still_works() -> None:
    p50 = np.linspace(-0.02, 0.02, N)
    short = MarketView(market(), 30)  # 31 bars < lookback 60 + 1 (e.g. a live window just started)
    targets = ForecastStrategy(forecasts(p50), config=CFG).decide(short, account())
    assert targets is not None and np.corrcoef(targets.weights, p50)[0, 1] > 0.5


def test_the_strategy_contract_lives_in_strategy_and_backtest_re_exports_it() -> None:
    import tftrade.backtest as bt
    import tftrade.strategy as st

    assert bt.MarketView is st.MarketView and bt.Targets is st.Targets and bt.AccountState is st.AccountState
    assert ForecastPanel is st.ForecastPanel
