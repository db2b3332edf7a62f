"""Volatility-scaled (ATR) stops in the engine, and the stop statistics of a result."""

from __future__ import annotations

import numpy as np

from tftrade.backtest import BacktestConfig, run_backtest
from tftrade.execution.costs import CostModel
from tftrade.risk.stops import average_true_range

from .conftest import make_market
from .test_engine import BuyOnce


def _market(low_at_5: float) -> object:
    t = 9
    close = np.full((t, 1), 100.0)
    lo, hi = np.full((t, 1), 99.0), np.full((t, 1), 101.0)  # true range 2: ATR 2
    lo[5, 0] = low_at_5
    return make_market(close, low=lo, high=hi)


def test_atr_stop_ignores_a_2_percent_dip_and_fires_at_three_atr() -> None:
    atr_cfg = BacktestConfig(initial_cash=1e6, stop_mode="atr", atr_period=3, atr_stop=3.0, atr_take=6.0)
    calm = run_backtest(_market(97.5), BuyOnce(at=1), config=atr_cfg, costs=CostModel.none())  # type: ignore[arg-type]
    assert [t.action for t in calm.trades] == ["BUY"]  # -2.5 % < 3 ATR (6 %): held
    fixed = run_backtest(_market(97.5), BuyOnce(at=1), config=BacktestConfig(initial_cash=1e6),  # type: ignore[arg-type]
                         costs=CostModel.none())
    assert [t.action for t in fixed.trades] == ["BUY", "SELL"]  # the fixed 2 % stop fires on the same dip
    hit = run_backtest(_market(93.9), BuyOnce(at=1), config=atr_cfg, costs=CostModel.none())  # type: ignore[arg-type]
    assert [t.action for t in hit.trades] == ["BUY", "SELL"] and hit.trades[1].rationale.startswith("stop-loss")
    stats = hit.stops()
    assert stats["stop_loss_exits"] == 1 and stats["take_profit_exits"] == 0
    assert stats["stop_loss_turnover"] > 0 and stats["stop_loss_pnl"] == hit.trades[1].pnl


def test_average_true_range_is_causal_and_matches_wilder() -> None:
    rng = np.random.default_rng(0)
    close = 100 + rng.normal(0, 1, (40, 2)).cumsum(axis=0)
    high, low = close + rng.uniform(0, 1, close.shape), close - rng.uniform(0, 1, close.shape)
    atr = average_true_range(high, low, close, 5)
    np.testing.assert_allclose(average_true_range(high[:20], low[:20], close[:20], 5), atr[:20])
    prev = np.r_[np.nan, close[:-1, 0]]
    tr = np.fmax(high[:, 0] - low[:, 0], np.fmax(np.abs(high[:, 0] - prev), np.abs(low[:, 0] - prev)))
    expect = tr[:5].mean()
    for t in range(5, 40):
        expect += (tr[t] - expect) / 5
    assert abs(atr[-1, 0] - expect) < 1e-12
