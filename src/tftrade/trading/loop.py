"""The trading loop: one step per closed bar, the same in a backtest and live.

Each step (bar ``t`` of the feed just closed, ``now`` read from the injected clock):

1. the fill source reports the fills since the last step (a paper broker fills what was ordered
   at ``t - 1`` against bar ``t``; a real broker reports its executions) and the order manager
   books them in its FIFO lots — the one position ledger; the loop's share vector is read from it;
2. the book is marked at the last known closes;
3. per-position stop-loss / take-profit are checked on bar ``t``'s low and high; a triggered
   position gets an exit order, and the stop is remembered for the re-entry rule
   (:mod:`tftrade.trading.reentry`: a cool-down, then back at the strategy's standing target);
4. on the decision cadence, and only while the session allows it, the strategy sees a
   :class:`~tftrade.strategy.view.MarketView` ending at ``t`` and returns target weights; they are
   sized to shares at the last closes, the risk gate resizes or rejects the deltas (every change
   recorded), and the order manager sends the approved deltas with deterministic client ids.
   When the session says to flatten, the targets are zero instead of the strategy's. Stopped-out
   names inside their cool-down are not re-opened; those past it whose signal is still on are
   re-opened at the strategy's standing weight (also on a decision bar where the strategy has
   nothing new to say);
5. the recorder gets the marks.

Decisions at the close of ``t`` fill no earlier than the next bar: no look-ahead. The loop calls
no wall clock: time comes from the bars and the injected clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tftrade.core.clock import Clock
from tftrade.core.orders import Fill, Order, OrderStatus, TradeRecord
from tftrade.core.types import Float64Array
from tftrade.execution.broker import Broker
from tftrade.execution.manager import OrderManager, PositionDifference, Reconciliation
from tftrade.risk.gate import AccountSnapshot, MarketSnapshot, RiskGate
from tftrade.risk.stops import AtrState, Exit, atr_fractions, check_stops
from tftrade.strategy.bars import BARS_PER_DAY
from tftrade.strategy.contract import AccountState, Strategy, Targets
from tftrade.strategy.estimates import betas, share_adv, simple_returns
from tftrade.strategy.view import MarketView
from tftrade.trading.config import TradingConfig
from tftrade.trading.errors import TradingError
from tftrade.trading.feed import BarEvent
from tftrade.trading.fills import FillSource
from tftrade.trading.recorder import NullRecorder, Recorder
from tftrade.trading.reentry import StopReentry
from tftrade.trading.session import AlwaysOpen, Session

_OPEN = ("new", "partially_filled")


@dataclass(frozen=True, slots=True)
class CheckVerdict:
    """An :class:`OrderCheck` resized (``approved`` shares, same sign, smaller) or rejected (0) order ``index``."""

    index: int
    action: str
    approved: float
    reason: str


class OrderCheck(Protocol):
    """A rule applied after the risk gate to a decision's orders (e.g. the wash-sale rule).

    It sees the booked trades (its own ledger) and may only shrink the gate-approved share
    deltas; each change is recorded as a gate event. Stop exits and flattening are not checked.
    """

    def book(self, trades: Sequence[TradeRecord]) -> None:
        """Trades booked at a bar."""
        ...

    def check(self, timestamp_ns: int, tickers: tuple[str, ...], delta: Float64Array,
              prices: Float64Array) -> Sequence[CheckVerdict]:
        """Verdicts for the orders it changes (the others pass as they are)."""
        ...


class TradingLoop:
    """Decide and trade bar by bar over a fixed universe (see the module docstring).

    Parameters
    ----------
    tickers
        The universe, in the feed's column order.
    strategy
        Turns a market view and the account into target weights.
    manager
        The order manager; its broker is the one orders go to and its lots are the position ledger.
    fills
        Where fills come from (:class:`~tftrade.trading.fills.BarFills` for a paper broker).
    clock
        The time source (simulated in a backtest, the system clock live); only the session reads it.
    config
        Cadence, stops, sizing.
    gate
        The pre-trade risk gate; ``None`` trades the targets unchecked.
    recorder
        Receives decisions, orders, trades, gate changes and marks.
    session
        Decision window (default: always open).
    check
        A rule applied after the gate (e.g. the wash-sale rule); ``None``: none.
    """

    def __init__(self, tickers: tuple[str, ...], strategy: Strategy, manager: OrderManager, fills: FillSource,
                 clock: Clock, *, config: TradingConfig | None = None, gate: RiskGate | None = None,
                 recorder: Recorder | None = None, session: Session | None = None,
                 check: OrderCheck | None = None) -> None:
        self.tickers, self.strategy, self.manager = tickers, strategy, manager
        self.broker: Broker = manager.broker
        self.fill_source, self.clock = fills, clock
        self.config = config or TradingConfig()
        self.gate = gate
        self.recorder: Recorder = recorder or NullRecorder()
        self.session: Session = session or AlwaysOpen()
        self.check = check
        n = len(tickers)
        self._index = {t: i for i, t in enumerate(tickers)}
        self.positions = np.zeros(n)
        """Shares per ticker: the order manager's lots as a float vector, updated from the same fills."""
        self.entry = np.full(n, np.nan)
        """Average entry price per open position: the stops' reference."""
        self.last = np.full(n, np.nan)
        """Last known close per ticker."""
        self.peak: float | None = None
        """Highest equity marked so far (the gate's drawdown reference)."""
        self.decisions = 0
        self.betas = np.ones(n)
        self._open: set[str] = set()
        self._exiting: dict[int, str] = {}
        self._atr = AtrState(n, self.config.atr_period) if self.config.stop_mode == "atr" else None
        self.reentry = StopReentry(n, self.config.reentry, self.config.reentry_cooldown,
                                   self.config.reentry_recovery)
        """Stops remembered for the re-entry rule."""
        self.standing = np.full(n, np.nan)
        """The strategy's standing target weight per ticker (NaN: not said yet)."""
        self._cancel_many = getattr(self.broker, "cancel_many", None)

    def run(self, events: Iterable[BarEvent]) -> None:
        """Step through every event of a feed."""
        for event in events:
            self.step(event)

    def step(self, event: BarEvent) -> float:
        """Process one closed bar; return the equity marked at its close."""
        frame, t = event.frame, event.row
        if len(frame.tickers) != len(self.tickers):
            raise TradingError(f"bar at {event.timestamp_ns} has {len(frame.tickers)} tickers, the loop trades "
                               f"{len(self.tickers)}")
        fills = self.fill_source.fills(event)
        if fills:
            self.book(fills)
        row = frame.close[t]
        last = self.last
        np.copyto(last, row, where=~np.isnan(row))
        value = self.positions * np.nan_to_num(last)
        eq = self.broker.cash() + float(value.sum())
        self.peak = eq if self.peak is None else max(self.peak, eq)
        exits = self._stops(event)
        if self._atr is not None:
            self._atr.update(frame.high[t], frame.low[t], frame.close[t - 1] if t else np.full(len(row), np.nan))
        cfg = self.config
        if cfg.is_decision_step(event.step):
            now = self.clock.now_ns()
            if self.session.flatten_due(now):
                if self.positions.any():
                    self._flatten(event, exits, eq)
            elif self.session.can_decide(now):
                n = len(self.tickers)
                w_now = value / eq if eq > 0 else np.zeros(n)
                account = AccountState(self.broker.cash(), eq, self.positions.copy(), w_now, self.manager.lots)
                targets = self.strategy.decide(MarketView(frame, t, last.copy()), account)
                if targets is not None:
                    self.decisions += 1
                    self._stand(targets)
                targets = self._reenter(event, targets, exits)
                if targets is not None:
                    self.recorder.decision(event, targets)
                    self._trade(event, targets, exits, eq)
        beta = float((value / eq) @ self.betas) if self.gate is not None and eq > 0 else float("nan")
        self.recorder.mark(event, eq, self.broker.cash(), value, beta)
        return eq

    def book(self, fills: list[Fill]) -> None:
        """Book fills in the order manager's lots (the ledger) and update the share vector from the same fills.

        The share vector is the ledger's positions as floats, kept in step fill by fill (summing
        the fills' own quantities, so a whole exit nets to exactly zero);
        :meth:`reconcile` checks it against the lots and the broker.
        """
        records = self.manager.record_fills(fills)
        self.recorder.trades(records)
        if self.check is not None:
            self.check.book(records)
        index, pos, entry = self._index, self.positions, self.entry
        for f in fills:
            i, qty, price = index[f.ticker], f.quantity, f.price
            old = pos[i]
            new = old + qty
            if abs(new) < 1e-9:
                pos[i], entry[i] = 0.0, np.nan
                continue
            if old == 0 or np.sign(new) != np.sign(old):
                entry[i] = price
                if self.reentry.step[i] >= 0:
                    self.reentry.step[i], self.reentry.side[i], self.reentry.level[i] = -1, 0.0, np.nan
            elif np.sign(qty) == np.sign(old):
                entry[i] = (entry[i] * abs(old) + price * abs(qty)) / abs(new)
            pos[i] = new

    def reconcile(self, tolerance: float = 1e-6) -> Reconciliation:
        """Compare the ledger (the order manager's lots) with the broker and with the loop's share vector.

        A difference with the share vector is reported with the vector's value in ``broker``'s place.
        """
        recon = self.manager.reconcile(tolerance)
        lots = self.manager.lots
        extra = tuple(PositionDifference(t, lots.position(t), float(q)) for t, q in zip(self.tickers, self.positions,
                                                                                       strict=True)
                      if abs(lots.position(t) - q) > tolerance)
        return Reconciliation(recon.differences + extra) if extra else recon

    def _stops(self, event: BarEvent) -> Float64Array:
        """Exit positions whose stop or take-profit the bar touched; returns 1 where an exit is pending.

        A ticker with an exit order still working is not checked again (no second exit order).
        """
        cfg, n = self.config, len(self.tickers)
        exiting = np.zeros(n)
        for i, oid in list(self._exiting.items()):
            if self.broker.status(oid).state in _OPEN:
                exiting[i] = 1.0
            else:
                del self._exiting[i]
        held = self.positions != 0
        if (cfg.stop_loss is None and cfg.take_profit is None) or not held.any():
            return exiting
        t, f, ts = event.row, event.frame, event.timestamp_ns
        low, high = f.low[t], f.high[t]
        sl: float | Float64Array = cfg.stop_loss or np.inf
        tp: float | Float64Array = cfg.take_profit or np.inf
        if self._atr is not None:  # ATR up to the bar before this one, as multiples of the entry price
            sl, tp = atr_fractions(self._atr.atr, self.entry, cfg.atr_stop if cfg.stop_loss else np.inf,
                                   cfg.atr_take if cfg.take_profit else np.inf)
        code = check_stops(np.sign(self.positions), self.entry, low, high, sl, tp)
        hit = (code != Exit.HOLD) & ~np.isnan(low) & (exiting == 0)
        if hit.any():
            self._cancel_open()
            statuses = []
            for i in np.flatnonzero(hit).tolist():
                kind = "stop-loss" if code[i] == Exit.STOP_LOSS else "take-profit"
                ticker, qty = self.tickers[i], -float(self.positions[i])
                side = float(np.sign(self.positions[i]))
                level = self.entry[i] * (1.0 - side * float(np.broadcast_to(sl, (n,))[i])) \
                    if code[i] == Exit.STOP_LOSS else float("nan")
                self.reentry.stopped(i, event.step, side, level)
                order = Order(self.manager.client_order_id(ts, ticker, "exit"), ticker, qty, created_ns=ts,
                              rationale=f"{kind}: entry {self.entry[i]:.4f}, bar {event.step} low {low[i]:.4f} "
                                        f"high {high[i]:.4f}")
                statuses.append(self.manager.submit(order))
                self._exiting[i] = order.client_order_id
            self.recorder.orders(event, statuses)
        out: Float64Array = np.maximum(exiting, hit.astype(np.float64))
        return out

    def _stand(self, targets: Targets) -> None:
        """Keep the strategy's standing targets (its finite weights when it gives none)."""
        if targets.standing is not None:
            self.standing = np.asarray(targets.standing, dtype=np.float64).copy()
        else:
            w = np.asarray(targets.weights, dtype=np.float64)
            if w.shape == self.standing.shape:
                np.copyto(self.standing, w, where=np.isfinite(w))
        self.reentry.observe(self.standing)

    def _reenter(self, event: BarEvent, targets: Targets | None, exits: Float64Array) -> Targets | None:
        """Apply the re-entry rule to a decision: blocked names stay flat, due names get their standing weight.

        Returns ``targets`` unchanged when no stop is remembered; re-entries alone make a decision
        of their own (the strategy returned ``None``).
        """
        r = self.reentry
        if not r.active or not (r.step >= 0).any():
            return targets
        n, step, last = len(self.tickers), event.step, self.last
        due = r.due(step, last, self.positions, self.standing) & (exits == 0)
        if targets is None and not due.any():
            return None
        w = np.full(n, np.nan) if targets is None else np.asarray(targets.weights, dtype=np.float64).copy()
        if w.shape != (n,):
            return targets  # _trade reports the malformed target
        with np.errstate(invalid="ignore"):
            reopening = (r.step >= 0) & (self.positions == 0) & np.isfinite(w) & (w * r.side > 0)
        w[reopening & r.blocked(step, last)] = np.nan
        fill = due & np.isnan(w)
        w[fill] = self.standing[fill]
        why = list(targets.rationale) if targets is not None and len(targets.rationale) == n else [""] * n
        for i in np.flatnonzero(due).tolist():
            why[i] = r.reason(i, step, float(last[i])) + (f"; {why[i]}" if why[i] else f": target {w[i]:.2%}")
        notes = () if targets is None else targets.notes
        return Targets(w, why, notes, self.standing.copy(), None if targets is None else targets.model_version)

    def _flatten(self, event: BarEvent, exits: Float64Array, equity: float) -> None:
        n = len(self.tickers)
        targets = Targets(np.zeros(n), ("flatten before the close",) * n, ("session: flattening before the close",))
        self.recorder.decision(event, targets)
        self._trade(event, targets, exits, equity, checked=False)

    def _trade(self, event: BarEvent, targets: Targets, exits: Float64Array, equity: float,
               checked: bool = True) -> None:
        n, t, frame, last = len(self.tickers), event.row, event.frame, self.last
        w = np.asarray(targets.weights, dtype=np.float64)
        if w.shape != (n,):
            raise TradingError(f"strategy returned {w.shape[0]} target weights for {n} tickers")
        for note in targets.notes:
            self.recorder.note(note)
        if self.config.cancel_open_orders:
            self._cancel_open()
        pos = self.positions
        price_ok = np.isfinite(last) & (last > 0) & ~np.isnan(frame.close[t])
        act = ~np.isnan(w) & price_ok & (exits == 0)
        target = pos.copy()
        target[act] = w[act] * equity / last[act]
        if not self.config.fractional_shares:
            target[act] = np.trunc(target[act])
        if self.gate is not None:
            target = pos + self._gate(event, target - pos, equity)
        if checked and self.check is not None:
            target = pos + self._check(event, target - pos)
        self._send(event, target, list(targets.rationale) if len(targets.rationale) == n else None)

    def _gate(self, event: BarEvent, delta: Float64Array, equity: float) -> Float64Array:
        assert self.gate is not None
        frame, look, last, ts = event.frame, self.config.risk_lookback, self.last, event.timestamp_ns
        view = MarketView(frame, event.row, last)
        returns = simple_returns(view.history("close", look + 1))
        bench = view.benchmark_history(look + 1)
        self.betas = betas(returns, None if bench is None else simple_returns(bench[:, None])[:, 0])
        market = MarketSnapshot(
            prices=np.where(np.isfinite(last) & (last > 0), last, 1.0),
            adv=share_adv(view.history("volume", look), BARS_PER_DAY[frame.timeframe]),
            betas=self.betas, sectors=np.asarray(frame.sectors), vix=view.vix if np.isfinite(view.vix) else 0.0,
            returns=returns if returns.shape[0] >= 20 else None,
        )
        account = AccountSnapshot(equity=equity, buying_power=max(self.broker.cash(), 0.0),
                                  positions=self.positions.copy(), peak_equity=self.peak or equity)
        res = self.gate.check_deltas(np.where(np.isfinite(delta), delta, 0.0), market, account)
        for d in res.decisions:
            if d.action != "accept":
                self.recorder.gate(ts, self.tickers[d.index], d.action, d.requested, d.approved,
                                   "; ".join(d.reasons))
        for reason in res.portfolio_reasons:
            self.recorder.note(reason)
        out: Float64Array = res.approved
        return out

    def _check(self, event: BarEvent, delta: Float64Array) -> Float64Array:
        assert self.check is not None
        ts, out = event.timestamp_ns, np.where(np.isfinite(delta), delta, 0.0)
        for v in self.check.check(ts, self.tickers, out.copy(), self.last.copy()):
            requested = float(out[v.index])
            ok = abs(v.approved) <= abs(requested) and v.approved * requested >= 0  # a check only shrinks
            out[v.index] = v.approved if ok else 0.0
            self.recorder.gate(ts, self.tickers[v.index], v.action, requested, float(out[v.index]), v.reason)
        return out

    def _send(self, event: BarEvent, target: Float64Array, rationale: list[str] | None) -> None:
        statuses: list[OrderStatus] = self.manager.rebalance(
            event.timestamp_ns, self.tickers, target, self.positions, rationale=rationale,
            min_shares=self.config.min_trade_shares if not self.config.fractional_shares else 1e-9,
        )
        self._open.update(s.client_order_id for s in statuses if s.state in _OPEN)
        if statuses:
            self.recorder.orders(event, statuses)

    def _cancel_open(self) -> None:
        if self._open:
            if self._cancel_many is not None:
                self._cancel_many(self._open)
            else:
                for oid in self._open:
                    self.broker.cancel(oid)
            self._open.clear()
