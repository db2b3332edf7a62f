"""The engine: fills at the next open, no look-ahead, stops on the right bar, VIX rule, accounting."""

from __future__ import annotations

import numpy as np
import pytest

from tftrade.backtest import AccountState, BacktestConfig, BacktestError, MarketView, Targets, run_backtest
from tftrade.execution.costs import CostModel
from tftrade.risk.gate import GateLimits, RiskGate
from tftrade.strategy.sma import SmaCrossover

from .conftest import make_market

NO_STOPS = BacktestConfig(stop_loss=None, take_profit=None, initial_cash=1e6)


class BuyOnce:
    """Targets ``weight`` in every ticker at bar ``at`` and then holds."""

    def __init__(self, at: int = 1, weight: float = 0.1) -> None:
        self.at, self.weight = at, weight
        self.seen: list[int] = []

    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        self.seen.append(view.t)
        if view.t != self.at:
            return None
        return Targets(np.full(len(view.tickers), self.weight), ["buy"] * len(view.tickers))


def trade_tuples(result, until_ns: int) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [(r.timestamp_ns, r.ticker, r.action, r.quantity, round(r.price, 8))
            for r in result.trades if r.timestamp_ns <= until_ns]


def test_orders_fill_at_the_next_bars_open() -> None:
    close = np.array([[100.0], [101.0], [102.0], [103.0]])
    op = np.array([[99.0], [100.5], [101.5], [102.5]])
    res = run_backtest(make_market(close, open_=op), BuyOnce(at=1), config=NO_STOPS, costs=CostModel.none())
    (trade,) = res.trades
    assert trade.timestamp_ns == res.market.timestamps[2] and trade.price == pytest.approx(101.5)
    assert trade.quantity == int(0.1 * 1e6 / 101.0)  # sized at the decision bar's close, whole shares
    assert res.equity[1] == pytest.approx(1e6)
    assert res.equity[3] == pytest.approx(1e6 + trade.quantity * (103.0 - 101.5))


def test_appending_future_bars_never_changes_earlier_decisions(random_market) -> None:  # type: ignore[no-untyped-def]
    cut = 100
    short = run_backtest(random_market.head(cut), SmaCrossover(5, 20), config=BacktestConfig(), costs=CostModel())
    full = run_backtest(random_market, SmaCrossover(5, 20), config=BacktestConfig(), costs=CostModel())
    last = int(random_market.timestamps[cut - 1])
    assert len(trade_tuples(short, last)) > 10
    assert trade_tuples(short, last) == trade_tuples(full, last)
    np.testing.assert_array_equal(short.equity, full.equity[:cut])
    np.testing.assert_array_equal(short.weights, full.weights[:cut])


def test_a_strategy_sees_only_bars_up_to_its_decision(random_market) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[int, int]] = []

    class Spy:
        def decide(self, view: MarketView, account: AccountState) -> Targets | None:
            seen.append((view.t, view.history("close", 10_000).shape[0]))
            return None

    run_backtest(random_market, Spy(), config=BacktestConfig(rebalance_every=7, warmup=3))
    assert seen[0] == (3, 4) and all(rows == t + 1 for t, rows in seen)
    assert [t for t, _ in seen] == list(range(3, random_market.n_times, 7))


def test_runs_are_deterministic(random_market) -> None:  # type: ignore[no-untyped-def]
    a = run_backtest(random_market, SmaCrossover(5, 20), gate=RiskGate(GateLimits(max_weight=0.2)))
    b = run_backtest(random_market, SmaCrossover(5, 20), gate=RiskGate(GateLimits(max_weight=0.2)))
    np.testing.assert_array_equal(a.equity, b.equity)
    assert [t.order_id for t in a.trades] == [t.order_id for t in b.trades]


@pytest.mark.parametrize(("low", "high", "kind"), [(97.9, 101.0, "stop-loss"), (99.5, 104.1, "take-profit")])
def test_stop_loss_and_take_profit_exit_on_the_bar_that_touches_them(low: float, high: float, kind: str) -> None:
    t = 9
    close = np.full((t, 1), 100.0)
    lo, hi = np.full((t, 1), 99.5), np.full((t, 1), 100.5)
    lo[5, 0], hi[5, 0] = low, high  # bar 5 touches the level; entry is bar 2's open (100)
    res = run_backtest(make_market(close, low=lo, high=hi), BuyOnce(at=1),
                       config=BacktestConfig(initial_cash=1e6), costs=CostModel.none())
    entry, exit_ = res.trades
    assert entry.action == "BUY" and entry.timestamp_ns == res.market.timestamps[2]
    assert exit_.action == "SELL" and exit_.timestamp_ns == res.market.timestamps[6]
    assert exit_.rationale.startswith(kind) and exit_.quantity == entry.quantity
    assert res.weights[6:].sum() == 0


def test_no_stop_before_the_level_is_touched() -> None:
    close = np.full((9, 1), 100.0)
    lo = np.full((9, 1), 98.01)  # 1.99 % below entry: not a stop
    res = run_backtest(make_market(close, low=lo), BuyOnce(at=1), config=BacktestConfig(), costs=CostModel.none())
    assert [t.action for t in res.trades] == ["BUY"]


def test_vix_rule_blocks_new_positions_through_the_gate() -> None:
    t, n = 10, 4
    close = np.full((t, n), 50.0)
    vix = np.full(t, 40.0)
    res = run_backtest(make_market(close, vix=vix), BuyOnce(at=2, weight=0.05), config=NO_STOPS,
                       gate=RiskGate(GateLimits()), costs=CostModel.none())
    assert res.trades == ()
    assert len(res.gate_events) == n and all("VIX" in e.reasons for e in res.gate_events)
    calm = run_backtest(make_market(close, vix=np.full(t, 20.0)), BuyOnce(at=2, weight=0.05), config=NO_STOPS,
                        gate=RiskGate(GateLimits()), costs=CostModel.none())
    assert len(calm.trades) == n


def test_gate_resizes_to_the_per_stock_limit() -> None:
    close = np.full((6, 3), 10.0)
    res = run_backtest(make_market(close), BuyOnce(at=1, weight=0.3), config=NO_STOPS,
                       gate=RiskGate(GateLimits(max_weight=0.05, max_sector_weight=1.0, beta_min=-9, beta_max=9)),
                       costs=CostModel.none())
    assert all(e.action == "resize" for e in res.gate_events) and len(res.gate_events) == 3
    assert np.allclose(res.weights[-1], 0.05, atol=1e-4)


def test_equity_equals_cash_plus_positions_and_pnl_adds_up(random_market) -> None:  # type: ignore[no-untyped-def]
    res = run_backtest(random_market, SmaCrossover(5, 20), config=NO_STOPS, costs=CostModel(commission_per_share=0.01))
    realised = sum(t.pnl or 0.0 for t in res.trades)
    last = random_market.close[-1]
    held = res.weights[-1] * res.equity[-1] / last
    unrealised_cost = res.equity[-1] - res.cash[-1]
    assert unrealised_cost == pytest.approx(float(np.nansum(held * last)))
    assert realised != 0 and np.isfinite(res.equity).all()


def test_a_wrong_number_of_targets_is_refused(random_market) -> None:  # type: ignore[no-untyped-def]
    class Bad:
        def decide(self, view: MarketView, account: AccountState) -> Targets | None:
            return Targets(np.zeros(3))

    with pytest.raises(BacktestError, match="3 target weights for 12 tickers"):
        run_backtest(random_market, Bad())


def test_the_backtest_is_the_trading_loop_on_a_historical_feed_and_a_simulated_clock(random_market) -> None:  # type: ignore[no-untyped-def]
    from tftrade.backtest import Backtest
    from tftrade.core.clock import SimulatedClock
    from tftrade.trading import BarFills, TradingLoop

    seen: list[int] = []

    class Clocked:
        def __init__(self, clock: SimulatedClock) -> None:
            self.clock = clock

        def decide(self, view: MarketView, account: AccountState) -> Targets | None:
            seen.append(self.clock.now_ns() - view.now_ns)  # the clock stands at the bar being decided
            return None

    bt = Backtest(random_market, SmaCrossover(5, 20), config=BacktestConfig(stop_loss=None, take_profit=None))
    bt.loop.strategy = Clocked(bt.clock)
    bt.run()
    assert isinstance(bt.loop, TradingLoop) and isinstance(bt.loop.fill_source, BarFills)
    assert seen == [0] * random_market.n_times
    assert bt.clock.now_ns() == int(random_market.timestamps[-1])
    assert bt.loop.manager is bt.manager and bt.loop.reconcile().in_sync
