"""Re-entry after a stop: a cool-down, recovery beyond the stop, then back at the strategy's standing target."""

from __future__ import annotations

import numpy as np
import pytest

from tftrade.backtest import BacktestConfig, MarketData, run_backtest
from tftrade.backtest.config import stop_rule, trading_setup
from tftrade.core.config import Settings, StopSettings
from tftrade.execution.costs import CostModel
from tftrade.strategy import AccountState, MarketView, Targets
from tftrade.strategy.sma import SmaCrossover

DAY = 86_400_000_000_000


def _market(close: np.ndarray, low: np.ndarray | None = None, high: np.ndarray | None = None) -> MarketData:
    c = np.asarray(close, dtype=np.float64)[:, None]
    lo = c * 0.999 if low is None else np.asarray(low, dtype=np.float64)[:, None]
    hi = c * 1.001 if high is None else np.asarray(high, dtype=np.float64)[:, None]
    t = c.shape[0]
    return MarketData(np.arange(1, t + 1, dtype=np.int64) * DAY, ("T0",), ("S",), c, hi, lo, c,
                      np.full((t, 1), 1e9), timeframe="1day")


class Always:
    """Targets ``weight`` on every call, like a strategy that re-optimises at each rebalance."""

    def __init__(self, weight: float = 0.5) -> None:
        self.weight = weight

    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        return Targets(np.full(len(view.tickers), self.weight))


def _cfg(**kw: object) -> BacktestConfig:
    base: dict[str, object] = {"rebalance_every": 1, "stop_loss": 0.02, "take_profit": None}
    return BacktestConfig(**{**base, **kw})  # type: ignore[arg-type]


def _buys(res: object) -> list[tuple[int, str]]:
    ts = res.market.timestamps  # type: ignore[attr-defined]
    return [(int(np.searchsorted(ts, r.timestamp_ns)), r.rationale) for r in res.trades  # type: ignore[attr-defined]
            if r.action == "BUY"]


def _dip_in_an_uptrend() -> MarketData:
    close = 100 * 1.002 ** np.arange(60)
    low = close * 0.999
    low[40] = 90.0  # one bar's low touches the 2 % stop; the close (and the SMA signal) stays up
    return _market(close, low)


def test_a_crossover_name_stopped_out_while_its_signal_is_on_re_enters_after_the_cool_down() -> None:
    m = _dip_in_an_uptrend()
    on = run_backtest(m, SmaCrossover(3, 6, weight=0.5), config=_cfg(reentry="signal", reentry_cooldown=5),
                      costs=CostModel.none())
    off = run_backtest(m, SmaCrossover(3, 6, weight=0.5), config=_cfg(reentry="off"), costs=CostModel.none())
    assert [r.action for r in off.trades] == ["BUY", "SELL"]  # waits for a crossover that never comes
    assert off.trades[1].rationale.startswith("stop-loss")
    assert [r.action for r in on.trades] == ["BUY", "SELL", "BUY"]
    (row, why), = _buys(on)[1:]
    assert row == 46  # stop at bar 40, cool-down 5 bars: re-entry decided at the close of bar 45, filled at 46
    assert why.startswith("re-entry after stop-loss at bar 40: 5 bars >= cool-down 5")
    assert on.weights[-1, 0] == pytest.approx(0.5, abs=0.01)  # back at the standing weight
    assert on.stops()["reentries"] == 1 and off.stops()["reentries"] == 0


def test_a_re_optimising_strategy_waits_for_the_cool_down_and_for_the_price_to_recover_above_the_stop() -> None:
    close = np.full(60, 100.0)
    close[20:35] = 95.0  # the stop (entry 100, 2 %: 98) fires at bar 20; the price stays below 98 until bar 35
    m = _market(close)
    legacy = run_backtest(m, Always(), config=_cfg(reentry="off"), costs=CostModel.none())
    assert [row for row, _ in _buys(legacy)][:2] == [1, 22]  # re-bought at once: stop churn
    res = run_backtest(m, Always(), config=_cfg(reentry="signal", reentry_cooldown=3), costs=CostModel.none())
    rows = [row for row, _ in _buys(res)]
    assert rows[:2] == [1, 36]  # blocked until the close of bar 35 (back at 100 >= 98), filled at 36
    assert _buys(res)[1][1].startswith("re-entry after stop-loss at bar 20: 15 bars >= cool-down 3, close 100.0000 "
                                       ">= stop 98.0000")
    quick = run_backtest(m, Always(), config=_cfg(reentry="signal", reentry_cooldown=3, reentry_recovery=False),
                         costs=CostModel.none())
    assert [row for row, _ in _buys(quick)][:2] == [1, 24]  # the cool-down alone: decided at 23, filled at 24


def test_after_a_take_profit_the_name_re_enters_after_the_cool_down_without_a_price_condition() -> None:
    close = np.full(40, 100.0)
    close[10:] = 110.0  # the 4 % take-profit fires at bar 10
    m = _market(close)
    res = run_backtest(m, Always(), config=_cfg(reentry="signal", reentry_cooldown=4, take_profit=0.04),
                       costs=CostModel.none())
    buys = _buys(res)
    assert [row for row, _ in buys][:2] == [1, 15]
    assert buys[1][1].startswith("re-entry after take-profit at bar 10: 4 bars >= cool-down 4")


def test_a_signal_that_turns_off_during_the_cool_down_ends_the_re_entry() -> None:
    close = np.r_[100 * 1.002 ** np.arange(41), 100 * 1.002 ** 40 * 0.97 ** np.arange(1, 20)]
    low = close * 0.999
    low[40] = 90.0
    res = run_backtest(_market(close, low), SmaCrossover(3, 6, weight=0.5),
                       config=_cfg(reentry="signal", reentry_cooldown=5), costs=CostModel.none())
    assert [r.action for r in res.trades] == ["BUY", "SELL"]  # the crossover turned down: no re-entry


def test_the_stops_settings_choose_a_cool_down_per_timeframe_and_reach_the_loop() -> None:
    assert stop_rule(StopSettings(), "1day").cooldown == 5 and stop_rule(StopSettings(), "1min").cooldown == 30
    cfg = trading_setup(Settings(home="/tmp/x"), "1day", {"stops.cooldown": 8, "stops.recovery": False}) \
        .backtest_config()
    assert (cfg.reentry, cfg.reentry_cooldown, cfg.reentry_recovery) == ("signal", 8, False)
    off = trading_setup(Settings(home="/tmp/x"), "1day", {"stops.mode": "off"}).backtest_config()
    assert off.reentry == "off" and off.stop_loss is None


def test_live_replay_re_enters_exactly_as_the_backtest() -> None:
    from tftrade.backtest.market import from_frame
    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.live.parity import replay_parity

    m = from_frame(generate_market(SyntheticConfig(n_tickers=6, days=1, seed=3)).bars_frame(), timeframe="1min")
    cfg = BacktestConfig(rebalance_every=3, warmup=20, stop_loss=0.003, take_profit=0.006, reentry="signal",
                         reentry_cooldown=4)
    assert run_backtest(m, SmaCrossover(5, 20), config=cfg).stops()["reentries"] > 0  # the rule is exercised
    report = replay_parity(m, lambda _: SmaCrossover(5, 20), config=cfg)
    assert report.same, report.differences


def test_the_live_paper_broker_and_loop_take_the_costs_and_stops_settings(tmp_path: object) -> None:
    from tftrade.core.clock import SimulatedClock
    from tftrade.live.app import LiveOptions, open_kit
    from tftrade.store.engine import make_engine

    settings = Settings(home=str(tmp_path), stops={"cooldown": 9})  # type: ignore[arg-type]
    opts = LiveOptions(strategy="sma", timeframe="1day")
    kit = open_kit(opts, make_engine(f"sqlite:///{tmp_path}/x.db"), SimulatedClock(), lambda _e: None, settings)
    costs = kit.broker.costs  # type: ignore[attr-defined]
    assert (costs.impact_model, costs.impact_coefficient) == ("adv", 0.7)  # as in a backtest, not the bare default
    assert trading_setup(settings, "1day").backtest_config().reentry_cooldown == 9
