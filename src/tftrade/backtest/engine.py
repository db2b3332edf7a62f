"""The event-driven backtest: one cross-section (all tickers at one timestamp) per step.

Each step ``t`` (bar ``t`` is the bar that just closed):

1. the simulated clock moves to bar ``t``;
2. the broker fills what was ordered at ``t - 1`` against bar ``t`` (market orders at its open,
   limits when it trades through them, volume caps → partial fills), and the order manager books
   the fills (FIFO lots, realised P&L);
3. per-position stop-loss / take-profit are checked on bar ``t``'s low and high; a triggered
   position gets an exit order for the next bar's open;
4. every ``rebalance_every`` bars the strategy sees a :class:`~tftrade.backtest.view.MarketView`
   ending at ``t`` and returns target weights; the risk gate resizes or rejects orders (every
   change recorded); the order manager sends the approved deltas with deterministic client ids;
5. equity and weights are marked at bar ``t``'s close.

Decisions at the close of ``t`` fill at the open of ``t + 1``: no look-ahead. The strategy,
gate, order manager and broker are the objects live trading uses; only the clock and the
broker implementation differ. At the end the order manager's FIFO lots are reconciled with
the broker's positions; a mismatch is an error, never a silent result. The result covers the
bars from the first decision (``warmup``) on: earlier bars only give the strategy its history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tftrade.backtest.config import BARS_PER_DAY, BacktestConfig
from tftrade.backtest.errors import BacktestError
from tftrade.backtest.market import MarketData
from tftrade.backtest.result import BacktestResult, GateEvent
from tftrade.backtest.strategy import AccountState, Strategy, Targets
from tftrade.backtest.view import MarketView
from tftrade.core.clock import SimulatedClock
from tftrade.core.gc_tuning import relaxed_gc
from tftrade.core.orders import Fill, Order, OrderStatus
from tftrade.core.types import Float64Array
from tftrade.execution.costs import CostModel
from tftrade.execution.manager import OrderManager, TradeRecord
from tftrade.execution.paper import PaperBroker
from tftrade.risk.gate import AccountSnapshot, MarketSnapshot, RiskGate
from tftrade.risk.stops import Exit, atr_fractions, average_true_range, check_stops
from tftrade.strategy.estimates import betas, share_adv, simple_returns

_OPEN = ("new", "partially_filled")


@dataclass
class _Book:
    """Positions and entry prices per ticker, kept in step with the fills."""

    n: int
    positions: Float64Array = field(init=False)
    entry: Float64Array = field(init=False)

    def __post_init__(self) -> None:
        self.positions = np.zeros(self.n)
        self.entry = np.full(self.n, np.nan)

    def apply(self, i: int, qty: float, price: float) -> None:
        old = self.positions[i]
        new = old + qty
        if abs(new) < 1e-9:
            self.positions[i], self.entry[i] = 0.0, np.nan
            return
        if old == 0 or np.sign(new) != np.sign(old):
            self.entry[i] = price
        elif np.sign(qty) == np.sign(old):
            self.entry[i] = (self.entry[i] * abs(old) + price * abs(qty)) / abs(new)
        self.positions[i] = new


class Backtest:
    """Run a :class:`Strategy` over :class:`MarketData` with a paper broker, a risk gate and stops.

    ``gate=None`` trades the strategy's targets unchecked (used by the peer benchmark).
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
    ) -> None:
        self.market, self.strategy = market, strategy
        self.config = config or BacktestConfig()
        self.gate = gate
        self.clock = SimulatedClock(int(market.timestamps[0]))
        self.broker = PaperBroker(cash=self.config.initial_cash, costs=costs or CostModel())
        self.manager = OrderManager(self.broker, strategy_version=self.config.strategy_version)
        self._on_step = on_step
        self._index = {t: i for i, t in enumerate(market.tickers)}
        self._book = _Book(market.n_tickers)
        self._open: set[str] = set()
        self._exiting: dict[int, str] = {}
        self._trades: list[TradeRecord] = []
        self._events: list[GateEvent] = []
        self._notes: list[str] = []
        self._betas = np.ones(market.n_tickers)
        self._atr = (average_true_range(market.high, market.low, market.close, self.config.atr_period)
                     if self.config.stop_mode == "atr" else None)

    def run(self) -> BacktestResult:
        """Step through every timestamp and return the result.

        The garbage collector's first threshold is raised for the run (the loop allocates many
        short-lived order objects and no reference cycles), then restored.
        """
        with relaxed_gc():
            return self._run()

    def _run(self) -> BacktestResult:
        m, cfg = self.market, self.config
        t_n, n = m.n_times, m.n_tickers
        equity, cash = np.empty(t_n), np.empty(t_n)
        weights = np.zeros((t_n, n))
        beta = np.full(t_n, np.nan)
        decisions = 0
        last = np.full(n, np.nan)
        peak = cfg.initial_cash
        for t in range(t_n):
            ts = int(m.timestamps[t])
            self.clock.advance_to(ts)
            fills = self.broker.on_bar(ts, m.tickers, m.open[t], m.high[t], m.low[t], m.close[t], m.volume[t])
            if fills:
                self._book_fills(fills)
            row = m.close[t]
            np.copyto(last, row, where=~np.isnan(row))
            value = self._book.positions * np.nan_to_num(last)
            eq = self.broker.cash() + float(value.sum())
            peak = max(peak, eq)
            exits = self._stops(t, ts)
            if t >= cfg.warmup and (t - cfg.warmup) % cfg.rebalance_every == 0:
                w_now = value / eq if eq > 0 else np.zeros(n)
                account = AccountState(self.broker.cash(), eq, self._book.positions.copy(), w_now)
                targets = self.strategy.decide(MarketView(m, t, last.copy()), account)
                if targets is not None:
                    decisions += 1
                    self._trade(t, ts, targets, exits, last, eq, peak)
            equity[t], cash[t] = eq, self.broker.cash()
            if eq > 0:
                weights[t] = value / eq
                beta[t] = float(weights[t] @ self._betas) if self.gate is not None else np.nan
            if self._on_step is not None:
                self._on_step(t)
        recon = self.manager.reconcile()
        if not recon.in_sync:
            raise BacktestError("lot book and broker disagree at the end of the run: " + ", ".join(
                f"{d.ticker} {d.book:g} vs {d.broker:g}" for d in recon.differences))
        s = min(cfg.warmup, t_n - 1)  # the warm-up only feeds history: results start at the first decision
        return BacktestResult(
            market=m.rows(s, t_n), equity=equity[s:], cash=cash[s:], weights=weights[s:], beta=beta[s:],
            trades=tuple(self._trades), gate_events=tuple(self._events), notes=tuple(self._notes),
            decisions=decisions, config=cfg,
        )

    def _book_fills(self, fills: list[Fill]) -> None:
        self._trades.extend(self.manager.record_fills(fills))
        for f in fills:
            self._book.apply(self._index[f.ticker], f.quantity, f.price)

    def _stops(self, t: int, ts: int) -> Float64Array:
        """Exit positions whose stop or take-profit bar ``t`` touched; returns 1 where an exit is pending.

        A ticker with an exit order still working is not checked again (no second exit order).
        """
        cfg, m = self.config, self.market
        exiting = np.zeros(m.n_tickers)
        for i, oid in list(self._exiting.items()):
            if self.broker.status(oid).state in _OPEN:
                exiting[i] = 1.0
            else:
                del self._exiting[i]
        held = self._book.positions != 0
        if (cfg.stop_loss is None and cfg.take_profit is None) or not held.any():
            return exiting
        sl, tp = ((cfg.stop_loss or np.inf, cfg.take_profit or np.inf) if self._atr is None else
                  atr_fractions(self._atr[t - 1] if t else np.full(m.n_tickers, np.nan), self._book.entry,
                                cfg.atr_stop if cfg.stop_loss else np.inf, cfg.atr_take if cfg.take_profit else np.inf))
        code = check_stops(np.sign(self._book.positions), self._book.entry, m.low[t], m.high[t], sl, tp)
        hit = (code != Exit.HOLD) & ~np.isnan(m.low[t]) & (exiting == 0)
        if hit.any():
            self._cancel_open()
            for i in np.flatnonzero(hit).tolist():
                kind = "stop-loss" if code[i] == Exit.STOP_LOSS else "take-profit"
                ticker, qty = m.tickers[i], -float(self._book.positions[i])
                order = Order(self.manager.client_order_id(ts, ticker, "exit"), ticker, qty, created_ns=ts,
                              rationale=f"{kind}: entry {self._book.entry[i]:.4f}, bar {t} low {m.low[t, i]:.4f} "
                                        f"high {m.high[t, i]:.4f}")
                self.manager.submit(order)
                self._exiting[i] = order.client_order_id
        out: Float64Array = np.maximum(exiting, hit.astype(np.float64))
        return out

    def _trade(self, t: int, ts: int, targets: Targets, exits: Float64Array, last: Float64Array,
               equity: float, peak: float) -> None:
        m, n = self.market, self.market.n_tickers
        w = np.asarray(targets.weights, dtype=np.float64)
        if w.shape != (n,):
            raise BacktestError(f"strategy returned {w.shape[0]} target weights for {n} tickers")
        self._notes.extend(targets.notes)
        if self.config.cancel_open_orders:
            self._cancel_open()
        pos = self._book.positions
        price_ok = np.isfinite(last) & (last > 0) & ~np.isnan(m.close[t])
        act = ~np.isnan(w) & price_ok & (exits == 0)
        target = pos.copy()
        target[act] = w[act] * equity / last[act]
        if not self.config.fractional_shares:
            target[act] = np.trunc(target[act])
        if self.gate is not None:
            target = pos + self._gate(t, ts, target - pos, last, equity, peak)
        self._send(ts, target, list(targets.rationale) if len(targets.rationale) == n else None)

    def _gate(self, t: int, ts: int, delta: Float64Array, last: Float64Array, equity: float,
              peak: float) -> Float64Array:
        assert self.gate is not None
        m, look = self.market, self.config.risk_lookback
        view = MarketView(m, t, last)
        returns = simple_returns(view.history("close", look + 1))
        bench = view.benchmark_history(look + 1)
        self._betas = betas(returns, None if bench is None else simple_returns(bench[:, None])[:, 0])
        market = MarketSnapshot(
            prices=np.where(np.isfinite(last) & (last > 0), last, 1.0),
            adv=share_adv(view.history("volume", look), BARS_PER_DAY[m.timeframe]),
            betas=self._betas, sectors=np.asarray(m.sectors), vix=view.vix if np.isfinite(view.vix) else 0.0,
            returns=returns if returns.shape[0] >= 20 else None,
        )
        account = AccountSnapshot(equity=equity, buying_power=max(self.broker.cash(), 0.0),
                                  positions=self._book.positions.copy(), peak_equity=peak)
        res = self.gate.check_deltas(np.where(np.isfinite(delta), delta, 0.0), market, account)
        for d in res.decisions:
            if d.action != "accept":
                self._events.append(GateEvent(ts, m.tickers[d.index], d.action, d.requested, d.approved,
                                              "; ".join(d.reasons)))
        self._notes.extend(res.portfolio_reasons)
        out: Float64Array = res.approved
        return out

    def _send(self, ts: int, target: Float64Array, rationale: list[str] | None) -> None:
        statuses: list[OrderStatus] = self.manager.rebalance(
            ts, self.market.tickers, target, self._book.positions, rationale=rationale,
            min_shares=self.config.min_trade_shares if not self.config.fractional_shares else 1e-9,
        )
        self._open.update(s.client_order_id for s in statuses if s.state in _OPEN)

    def _cancel_open(self) -> None:
        if self._open:
            self.broker.cancel_many(self._open)
            self._open.clear()


def run_backtest(market: MarketData, strategy: Strategy, **kwargs: object) -> BacktestResult:
    """Shorthand for ``Backtest(market, strategy, **kwargs).run()``."""
    return Backtest(market, strategy, **kwargs).run()  # type: ignore[arg-type]
