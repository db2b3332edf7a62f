"""The trading loop on its own: cadence, session window, flattening, the one ledger, bad targets."""

from __future__ import annotations

import numpy as np
import pytest

from tftrade.backtest import MarketData
from tftrade.backtest.feed import HistoricalFeed
from tftrade.core.clock import SimulatedClock
from tftrade.execution.manager import OrderManager
from tftrade.execution.paper import PaperBroker
from tftrade.strategy import AccountState, MarketView, Targets
from tftrade.trading import BarEvent, BarFills, NullRecorder, TradingConfig, TradingLoop
from tftrade.trading.errors import TradingError

MIN = 60_000_000_000


def _market(t: int = 30, n: int = 3) -> MarketData:
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, (t, n)), axis=0))
    return MarketData(np.arange(t, dtype=np.int64) * MIN, tuple(f"T{i}" for i in range(n)), ("S",) * n,
                      close, close * 1.001, close * 0.999, close, np.full((t, n), 1e7), timeframe="1min")


class Fixed:
    """Targets equal weights on every call and remembers when it was asked."""

    def __init__(self, weight: float = 0.2, n: int = 3) -> None:
        self.weight, self.n, self.asked = weight, n, []

    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        self.asked.append(view.t)
        return Targets(np.full(self.n, self.weight))


def _loop(strategy: object, clock: SimulatedClock, **kw: object) -> tuple[TradingLoop, PaperBroker]:
    broker = PaperBroker(cash=1e6)
    manager = OrderManager(broker, strategy_version="t")
    cfg = kw.pop("config", TradingConfig(stop_loss=None, take_profit=None))
    return TradingLoop(("T0", "T1", "T2"), strategy, manager, BarFills(broker), clock, config=cfg,  # type: ignore[arg-type]
                       **kw), broker  # type: ignore[arg-type]


def test_the_strategy_is_asked_on_the_cadence_after_the_warmup() -> None:
    m, clock, s = _market(), SimulatedClock(), Fixed()
    loop, _ = _loop(s, clock, config=TradingConfig(warmup=2, rebalance_every=3, stop_loss=None, take_profit=None))
    loop.run(HistoricalFeed(m, clock))
    assert s.asked == list(range(2, 30, 3))
    assert loop.decisions == len(s.asked)


def test_positions_come_from_the_order_managers_lots_and_reconcile() -> None:
    m, clock = _market(), SimulatedClock()
    loop, broker = _loop(Fixed(), clock)
    loop.run(HistoricalFeed(m, clock))
    lots = loop.manager.lots.positions()
    assert lots and all(v > 0 for v in lots.values())
    assert loop.positions.tolist() == [lots.get(t, 0.0) for t in loop.tickers]
    assert loop.reconcile().in_sync
    assert broker.positions() == lots


class Window:
    """Open for decisions between two times; flattening from a third on."""

    def __init__(self, open_ns: int, close_ns: int, flatten_ns: int) -> None:
        self.open_ns, self.close_ns, self.flatten_ns = open_ns, close_ns, flatten_ns

    def can_decide(self, now_ns: int) -> bool:
        return self.open_ns <= now_ns < self.close_ns

    def flatten_due(self, now_ns: int) -> bool:
        return now_ns >= self.flatten_ns


def test_no_decision_outside_the_session_and_flat_after_flattening() -> None:
    m, clock, s = _market(), SimulatedClock(), Fixed()
    loop, broker = _loop(s, clock, session=Window(5 * MIN, 20 * MIN, 20 * MIN))
    loop.run(HistoricalFeed(m, clock))
    assert s.asked == list(range(5, 20))  # the clock (driven by the feed) decides, not the bar count
    assert broker.positions() == {}  # flattened at 20, filled at 21
    assert loop.positions.tolist() == [0.0, 0.0, 0.0]


def test_a_target_of_the_wrong_length_is_a_clear_error() -> None:
    m, clock = _market(), SimulatedClock()
    loop, _ = _loop(Fixed(n=2), clock)
    with pytest.raises(TradingError, match="2 target weights for 3 tickers"):
        loop.run(HistoricalFeed(m, clock))


class Reported:
    """A fill source that is not the bar matcher: fills reported by 'the broker' out of band."""

    def __init__(self, broker: PaperBroker) -> None:
        self.broker, self.calls = broker, 0

    def fills(self, event: BarEvent) -> list:  # type: ignore[type-arg]
        self.calls += 1
        return BarFills(self.broker).fills(event)


def test_any_fill_source_can_feed_the_loop() -> None:
    m, clock = _market(), SimulatedClock()
    broker = PaperBroker(cash=1e6)
    source = Reported(broker)
    loop = TradingLoop(m.tickers, Fixed(), OrderManager(broker), source, clock, recorder=NullRecorder(),
                       config=TradingConfig(stop_loss=None, take_profit=None))
    loop.run(HistoricalFeed(m, clock))
    assert source.calls == 30 and loop.reconcile().in_sync and loop.positions.sum() > 0


def test_a_universe_mismatch_is_refused() -> None:
    m, clock = _market(n=4), SimulatedClock()
    loop, _ = _loop(Fixed(), clock)
    with pytest.raises(TradingError, match="4 tickers"):
        loop.step(BarEvent(0, 0, m))
