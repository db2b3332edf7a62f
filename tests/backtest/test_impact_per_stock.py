"""Market impact per stock: each name's own daily volatility and ADV, and costs that add up to the fills'."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tftrade.backtest import BacktestConfig, MarketData, run_backtest
from tftrade.backtest.config import trading_setup
from tftrade.core.config import Settings
from tftrade.execution.costs import CostModel, Liquidity

from .conftest import DAY
from .test_engine import BuyOnce

T, FILL = 30, 26  # BuyOnce decides at bar 25, the orders fill at bar 26's open


def _market(vols: tuple[float, ...], advs: tuple[float, ...], fill_volume: float = 1e6) -> MarketData:
    """Closes whose simple returns alternate +x, -x exactly (daily volatility x), constant volume = ADV."""
    n = len(vols)
    sign = np.where(np.arange(T - 1) % 2 == 0, 1.0, -1.0)[:, None]
    close = 100.0 * np.vstack([np.ones((1, n)), np.cumprod(1.0 + sign * np.asarray(vols), axis=0)])
    volume = np.tile(np.asarray(advs, dtype=np.float64), (T, 1))
    volume[FILL] = fill_volume  # the same bar volume for every name: only the history differs
    return MarketData(np.arange(1, T + 1, dtype=np.int64) * DAY, tuple(f"T{i}" for i in range(n)), ("S",) * n,
                      close, close * 1.001, close * 0.999, close, volume, timeframe="1day")


def _costs(**kw: object) -> CostModel:
    return trading_setup(Settings(home="/tmp/x"), "1day", {f"costs.{k}": v for k, v in kw.items()}).cost_model()


def test_an_illiquid_volatile_name_pays_more_impact_than_a_liquid_one_for_the_same_dollar_order() -> None:
    m = _market(vols=(0.01, 0.03), advs=(5e6, 5e4))
    res = run_backtest(m, BuyOnce(at=FILL - 1, weight=0.02), config=BacktestConfig(stop_loss=None, take_profit=None),
                       costs=_costs(half_spread_bps=0.0, max_volume_share=0.0))
    res = replace(res, cost_model=_costs(half_spread_bps=0.0, max_volume_share=0.0))
    parts = res.trade_costs()
    buys = {r.ticker: (k, r) for k, r in enumerate(res.trades)}
    per_dollar = {}
    for i, (sigma, adv) in enumerate(((0.01, 5e6), (0.03, 5e4))):
        k, r = buys[f"T{i}"]
        ref = m.open[FILL, i]
        expected = 0.7 * sigma * np.sqrt(r.quantity / adv)  # Y * sigma_daily * sqrt(Q / ADV), Y = costs default
        assert r.price == pytest.approx(ref * (1 + expected), rel=1e-9)
        assert parts["impact"][k] == pytest.approx(r.quantity * ref * expected, rel=1e-6)
        per_dollar[i] = parts["impact"][k] / (r.quantity * ref)
    assert per_dollar[1] > 10 * per_dollar[0]  # 3x the volatility, 1/100 of the volume: 30x the impact per dollar


def test_the_impact_coefficient_is_a_costs_setting_and_costs_equal_the_sum_of_the_fills() -> None:
    m = _market(vols=(0.01, 0.02, 0.04), advs=(1e6, 1e5, 2e4))
    model = _costs(impact_coefficient=1.4)
    assert (model.impact_model, model.impact_coefficient) == ("adv", 1.4)
    res = run_backtest(m, BuyOnce(at=FILL - 1, weight=0.05), config=BacktestConfig(stop_loss=None, take_profit=None),
                       costs=model)
    res = replace(res, cost_model=model)
    double = run_backtest(m, BuyOnce(at=FILL - 1, weight=0.05),
                          config=BacktestConfig(stop_loss=None, take_profit=None), costs=_costs())
    for a, b in zip(res.trades, double.trades, strict=True):
        assert a.price > b.price  # twice the coefficient, dearer fills
    expected = sum(r.quantity * abs(r.price - m.open[FILL, int(r.ticker[1:])]) + r.commission for r in res.trades)
    assert res.costs()["total"] == pytest.approx(expected, rel=1e-12)


def test_liquidity_estimates_use_only_bars_before_the_fill() -> None:
    liq = Liquidity(window=20, bars_per_day=1)
    first = liq.step(("A",), np.array([100.0]), np.array([1e6]))
    assert first.sigma[0] == 0.02 and first.adv[0] == 1e6  # no history: default vol, this bar's volume
    liq.step(("A",), np.array([110.0]), np.array([1e6]))
    before = liq.step(("A",), np.array([55.0]), np.array([1e9]))  # a crash bar does not price its own fills
    assert before.sigma[0] == pytest.approx(0.1) and before.adv[0] == pytest.approx(1e6)
