"""The forecast strategy's tax inputs in a backtest: the optimiser's tax of selling and tax-loss harvesting.

The market: steady gains with forecasts that rotate every 20 bars, so a tax-blind optimiser keeps
selling winners held for weeks (short-term gains) to buy the next forecast; with ``tax`` on it
holds them unless the forecast pays for the tax.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from tftrade.backtest import BacktestConfig, MarketData, run_backtest
from tftrade.backtest.forecasts import ForecastPanel
from tftrade.compliance.run_tax import run_tax_alpha
from tftrade.execution.costs import CostModel
from tftrade.portfolio import OptimizerConfig
from tftrade.strategy.contract import AccountState, OpenLotView
from tftrade.strategy.forecast_strategy import ForecastStrategy, StrategyConfig
from tftrade.strategy.tax_inputs import HarvestConfig, TaxAwareConfig
from tftrade.strategy.view import MarketView


def market(t: int = 300, n: int = 6, drift: float = 0.002, seed: int = 1) -> MarketData:
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2022-01-03", periods=t)
    ts = (days + pd.Timedelta(hours=21)).tz_localize("UTC").as_unit("ns").asi8.astype(np.int64)
    close = 50 * np.exp(np.cumsum(rng.normal(drift, 0.01, (t, n)), axis=0))
    return MarketData(ts, tuple(f"T{i}" for i in range(n)), tuple(f"S{i % 3}" for i in range(n)), close,
                      close * 1.01, close * 0.99, close, np.full((t, n), 1e7), "1day", benchmark=close.mean(axis=1),
                      vix=np.full(t, 15.0))


def rotating(m: MarketData, scale: float = 0.002, every: int = 20, seed: int = 2) -> ForecastPanel:
    rng = np.random.default_rng(seed)
    t, n = m.close.shape
    q50 = np.repeat(rng.normal(0, scale, (t // every + 1, n)), every, axis=0)[:t]
    return ForecastPanel(m.timestamps, m.tickers, 5, q50 - 0.02, q50, q50 + 0.02, np.ones((t, n)))


OPT = OptimizerConfig(max_weight=0.3, max_sector_weight=0.6, beta_min=-5, beta_max=5)
RUN = BacktestConfig(warmup=60, stop_loss=None, take_profit=None, rebalance_every=5)


def run(m: MarketData, fc: ForecastPanel, **strategy: object):  # type: ignore[no-untyped-def]
    cfg = StrategyConfig(lookback=60, optimizer=OPT, **strategy)  # type: ignore[arg-type]
    res = run_backtest(m, ForecastStrategy(fc, config=cfg), config=RUN, costs=CostModel.none())
    return res, run_tax_alpha(res.trades_frame(), RUN.initial_cash, float(res.equity[-1] / RUN.initial_cash - 1))


@pytest.fixture(scope="module")
def rising() -> MarketData:
    return market()


def test_tax_aware_realises_fewer_short_term_gains_and_keeps_more_after_tax(rising: MarketData) -> None:
    fc = rotating(rising)
    off, tax_off = run(rising, fc)
    on, tax_on = run(rising, fc, tax=TaxAwareConfig())
    st_off, st_on = Decimal(tax_off["short_term_gains"]), Decimal(tax_on["short_term_gains"])
    assert st_off > 0 and st_on < Decimal("0.7") * st_off  # the tax holds sales of recent winners back
    sold = lambda r: sum(t.quantity * t.price for t in r.trades if t.action == "SELL")  # noqa: E731
    assert sold(on) < sold(off)
    assert tax_on["after_tax_return"] - tax_off["after_tax_return"] > 0.02  # the tearsheet's tax alpha
    assert Decimal(tax_on["tax"]) < Decimal(tax_off["tax"])


class _Untouchable:
    def lots(self, ticker: str) -> Sequence[OpenLotView]:
        raise AssertionError("a strategy without tax inputs read the lots")


def test_without_tax_inputs_the_lots_are_never_read(rising: MarketData) -> None:
    """Off, the decision is the one of before the lots were offered (they are not even looked at)."""
    fc = rotating(rising)
    strategy = ForecastStrategy(fc, config=StrategyConfig(lookback=60, optimizer=OPT))
    n, view = len(rising.tickers), MarketView(rising, 200)
    w = np.full(n, 1 / n)
    blind = strategy.decide(view, AccountState(1e6, 1e6, w * 1e6 / rising.close[200], w))
    seen = strategy.decide(view, AccountState(1e6, 1e6, w * 1e6 / rising.close[200], w, _Untouchable()))
    assert blind is not None and seen is not None
    assert np.array_equal(blind.weights, seen.weights) and blind.rationale == seen.rationale


def falling_first(t: int = 260, n: int = 6, seed: int = 4) -> MarketData:
    """T0 is flat for 80 sessions, loses a third over the next 60, then recovers; the others drift up."""
    m = market(t, n, drift=0.0008, seed=seed)
    close = m.close.copy()
    path = np.concatenate([np.zeros(80), np.linspace(0, np.log(0.67), 60),
                           np.linspace(np.log(0.67), np.log(0.9), t - 140)])
    close[:, 0] = 50 * np.exp(path)
    return MarketData(m.timestamps, m.tickers, m.sectors, close, close * 1.01, close * 0.99, close, m.volume, "1day",
                      benchmark=close.mean(axis=1), vix=m.vix)


def test_loss_harvesting_sells_the_loser_buys_the_substitute_and_never_washes() -> None:
    m = falling_first()
    t, n = m.close.shape
    q50 = np.tile(np.linspace(0.004, 0.001, n), (t, 1))  # T0 always has the best forecast: it would be re-bought
    fc = ForecastPanel(m.timestamps, m.tickers, 5, q50 - 0.02, q50, q50 + 0.02, np.ones((t, n)))
    harvest = HarvestConfig(substitutes={"T0": "T3"}, min_loss_fraction=Decimal("0.05"), min_loss=Decimal(1000))
    res, tax = run(m, fc, harvest=harvest)
    trades = res.trades_frame()
    harvested = trades[trades["rationale"].str.startswith("tax-loss harvest: sell")]
    assert len(harvested) >= 1 and set(harvested["ticker"]) == {"T0"} and set(harvested["action"]) == {"SELL"}
    subs = trades[trades["rationale"].str.startswith("tax-loss harvest: substitute")]
    assert "T3" in set(subs["ticker"]) and set(subs["action"]) <= {"BUY"}
    for sold in harvested["timestamp"]:  # the original is not bought back within the 30 days after
        window = trades[(trades["ticker"] == "T0") & (trades["action"] == "BUY") & (trades["timestamp"] > sold)
                        & (trades["timestamp"] <= sold + pd.Timedelta(days=30))]
        assert window.empty
    assert (trades[(trades["ticker"] == "T0") & (trades["action"] == "BUY")]["timestamp"] > harvested["timestamp"].max()
            ).any()  # and is bought again after it
    assert Decimal(tax["harvested_losses"]) > 1000 and tax["harvest_sales"] == len(harvested)
    assert tax["harvest_washed"] == "0.00"  # no harvested loss was washed
    from tftrade.analytics.tearsheet_tables import tax_alpha_table

    assert "losses harvested" in tax_alpha_table(tax) and "capital loss deducted" in tax_alpha_table(tax)
    _, plain = run(m, fc)
    assert plain["harvest_sales"] == 0 and plain["harvested_losses"] == "0.00"


def test_a_substitute_that_is_the_same_security_is_refused() -> None:
    with pytest.raises(ValueError, match="substantially identical"):
        HarvestConfig(substitutes={"SPY": "SPY"})
    with pytest.raises(ValueError, match="substantially identical"):
        HarvestConfig(substitutes={"SPY": "IVV"}, groups={"SPY": "sp500", "IVV": "sp500"})


def test_the_settings_reach_the_strategy() -> None:
    from tftrade.backtest.config import apply_overrides, trading_setup
    from tftrade.core.config import Settings
    from tftrade.core.errors import ConfigError

    base = Settings(home="/tmp/x")
    assert trading_setup(base, "1day").strategy().tax is None and trading_setup(base, "1day").strategy().harvest is None
    s = apply_overrides(base, {"risk.tax_aware": "true", "risk.tax_rate_short": "0.40", "risk.harvest": "true",
                               "risk.harvest_substitutes": "SPY=VOO, QQQ=QQQM", "risk.harvest_min_loss": "500"})
    cfg = trading_setup(s, "1day").strategy()
    assert cfg.tax is not None and cfg.tax.short_rate == 0.40
    assert cfg.harvest is not None and cfg.harvest.substitutes == {"SPY": "VOO", "QQQ": "QQQM"}
    assert cfg.harvest.min_loss == Decimal(500) and cfg.optimizer.max_weight == s.risk.max_position
    with pytest.raises(ConfigError, match="substantially identical"):
        trading_setup(apply_overrides(base, {"risk.harvest": "true", "risk.harvest_substitutes": "SPY=SPY"}),
                      "1day").strategy()
    with pytest.raises(ConfigError, match="not TICKER=SUBSTITUTE"):
        apply_overrides(base, {"risk.harvest_substitutes": "SPY"})
