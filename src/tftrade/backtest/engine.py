"""The event-driven backtest: the trading loop over history, with a simulated clock and simulated fills.

Each step ``t`` (bar ``t`` is the bar that just closed) is one step of
:class:`~tftrade.trading.loop.TradingLoop`:

1. the :class:`~tftrade.backtest.feed.HistoricalFeed` moves the simulated clock to bar ``t``;
2. the paper broker fills what was ordered at ``t - 1`` against bar ``t`` (market orders at its open,
   limits when it trades through them, volume caps → partial fills), and the order manager books
   the fills (FIFO lots, realised P&L);
3. per-position stop-loss / take-profit are checked on bar ``t``'s low and high; a triggered
   position gets an exit order for the next bar's open;
4. every ``rebalance_every`` bars the strategy sees a :class:`~tftrade.strategy.view.MarketView`
   ending at ``t`` and returns target weights; the risk gate resizes or rejects orders (every
   change recorded); the order manager sends the approved deltas with deterministic client ids;
5. equity and weights are marked at bar ``t``'s close.

Decisions at the close of ``t`` fill at the open of ``t + 1``: no look-ahead. The loop, strategy,
gate, order manager and broker are the objects live trading uses; only the feed, the clock and
the broker implementation differ. At the end the order manager's FIFO lots are reconciled with
the broker's positions; a mismatch is an error, never a silent result. The result covers the
bars from the first decision (``warmup``) on: earlier bars only give the strategy its history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from tftrade.backtest.config import BacktestConfig
from tftrade.backtest.errors import BacktestError
from tftrade.backtest.feed import HistoricalFeed
from tftrade.backtest.market import MarketData
from tftrade.backtest.recorder import ArrayRecorder
from tftrade.backtest.result import BacktestResult
from tftrade.core.clock import SimulatedClock
from tftrade.core.gc_tuning import relaxed_gc
from tftrade.execution.costs import CostModel
from tftrade.execution.manager import OrderManager
from tftrade.execution.paper import PaperBroker
from tftrade.risk.gate import RiskGate
from tftrade.strategy.contract import Strategy
from tftrade.trading.config import TradingConfig
from tftrade.trading.errors import TradingError
from tftrade.trading.feed import BarEvent
from tftrade.trading.fills import BarFills
from tftrade.trading.loop import OrderCheck, TradingLoop
from tftrade.trading.recorder import FanOutRecorder, Recorder


def trading_config(config: BacktestConfig) -> TradingConfig:
    """The loop's settings taken from a backtest's settings (same names)."""
    return TradingConfig(**config.model_dump(include=set(TradingConfig.model_fields)))


class Backtest:
    """Run a :class:`Strategy` over :class:`MarketData` with a paper broker, a risk gate and stops.

    ``gate=None`` trades the strategy's targets unchecked (used by the peer benchmark).
    ``audit`` is an extra recorder (e.g. :class:`~tftrade.compliance.recorder.AuditRecorder`)
    that receives everything the loop records beside the result's arrays; ``None`` (the
    default) records the arrays only. ``check`` is a rule applied after the gate (the wash-sale
    rule, :class:`~tftrade.compliance.wash_check.WashSaleCheck`); ``None`` (the default) applies none.
    """

    def __init__(
        self,
        market: MarketData,
        strategy: Strategy,
        *,
        config: BacktestConfig | None = None,
        costs: CostModel | None = None,
        gate: RiskGate | None = None,
        on_step: Callable[[int], None] | None = None,
        audit: Recorder | None = None,
        check: OrderCheck | None = None,
    ) -> None:
        self.market, self.strategy = market, strategy
        self.config = config or BacktestConfig()
        self.gate = gate
        self.clock = SimulatedClock(int(market.timestamps[0]))
        self.broker = PaperBroker(cash=self.config.initial_cash, costs=costs or CostModel())
        self.manager = OrderManager(self.broker, strategy_version=self.config.strategy_version)
        self.recorder = ArrayRecorder(market.n_times, market.n_tickers)
        recorder: Recorder = self.recorder if audit is None else FanOutRecorder(self.recorder, audit)
        self.loop = TradingLoop(market.tickers, strategy, self.manager, BarFills(self.broker), self.clock,
                                config=trading_config(self.config), gate=gate, recorder=recorder,
                                check=check)
        self._on_step = on_step

    def run(self) -> BacktestResult:
        """Step through every timestamp and return the result.

        The garbage collector's first threshold is raised for the run (the loop allocates many
        short-lived order objects and no reference cycles), then restored.
        """
        with relaxed_gc():
            return self._run()

    def _events(self) -> Iterator[BarEvent]:
        on_step = self._on_step
        for event in HistoricalFeed(self.market, self.clock):
            yield event
            if on_step is not None:
                on_step(event.step)

    def _run(self) -> BacktestResult:
        m, cfg, rec = self.market, self.config, self.recorder
        try:
            self.loop.run(self._events())
        except TradingError as e:
            raise BacktestError(str(e)) from e
        recon = self.loop.reconcile()
        if not recon.in_sync:
            raise BacktestError("lot book and broker disagree at the end of the run: " + ", ".join(
                f"{d.ticker} {d.book:g} vs {d.broker:g}" for d in recon.differences))
        t_n = m.n_times
        s = min(cfg.warmup, t_n - 1)  # the warm-up only feeds history: results start at the first decision
        return BacktestResult(
            market=m.rows(s, t_n), equity=rec.equity[s:], cash=rec.cash[s:], weights=rec.weights[s:],
            beta=rec.beta[s:], trades=tuple(rec.trade_records), gate_events=tuple(rec.gate_events),
            notes=tuple(rec.notes), decisions=self.loop.decisions, config=cfg,
        )


def run_backtest(market: MarketData, strategy: Strategy, **kwargs: object) -> BacktestResult:
    """Shorthand for ``Backtest(market, strategy, **kwargs).run()``."""
    return Backtest(market, strategy, **kwargs).run()  # type: ignore[arg-type]
