r"""The pre-trade risk gate: one object called by the backtest and by live trading.

Inputs are plain arrays over a fixed universe of ``n`` tickers (same order everywhere):
the proposed orders (as share deltas, or as target weights converted with
:meth:`RiskGate.check_weights`), a :class:`MarketSnapshot` and an :class:`AccountSnapshot`.
The gate never sees a clock or a broker, so both modes share it unchanged.

Checks, in order (each may reject or shrink orders; every change is recorded):

1. **kill switch** — everything rejected.
2. **drawdown circuit breaker** — when :math:`1 - E/E_{peak} \ge` ``max_drawdown`` only
   risk-reducing orders (towards flat, never flipping) pass.
3. **VIX rule** — when VIX > ``vix_block`` orders that open a new position are rejected.
4. **per-stock limit** — :math:`|x_i p_i| / E \le` ``max_weight`` (an existing larger position may
   be kept or reduced, not increased).
5. **per-sector limit** — orders that increase a sector's :math:`|\sum w|` above
   ``max_sector_weight`` are scaled down pro rata.
6. **liquidity** — :math:`|\Delta x_i| \le` ``max_adv_fraction`` :math:`\cdot\,\mathrm{ADV}_i`.
7. **buying power** — buys minus sell proceeds may not exceed buying power; buys scaled pro rata.
8. **beta band** — if the post-trade beta :math:`\sum_i x_i p_i \beta_i / E` leaves
   [``beta_min``, ``beta_max``], the orders that push it further out are scaled (pro rata) so it
   stops at the band edge (or, if the book was already outside on that side, at its current
   beta). Orders that move beta towards the band are never cut: a book at beta 0.07 may buy.
9. **VaR limit** — when the one-period VaR at ``var_alpha`` (method ``var_method``) of the
   post-trade weights over the return history exceeds ``max_var`` (or the book's current VaR,
   if that is higher), the orders that add most to VaR (largest incremental VaR) are cut first,
   one at a time, until it does not; risk-reducing orders (incremental VaR <= 0) are never cut
   (:mod:`tftrade.risk.var_resize`). Each cut order's reason carries its incremental VaR, its
   scale and the VaR after it.

Finally quantities are truncated to whole shares (unless ``fractional_shares``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from tftrade.core.types import BoolArray, Float64Array
from tftrade.risk.errors import RiskError
from tftrade.risk.var import VaRMethod, portfolio_var
from tftrade.risk.var_resize import cut_to_var

Action = Literal["accept", "resize", "reject"]


class GateLimits(BaseModel):
    """Limits of the pre-trade gate (frozen, unknown keys rejected).

    Examples
    --------
    >>> GateLimits().vix_block
    35.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_weight: float = Field(default=0.05, gt=0, le=1)
    max_sector_weight: float = Field(default=0.25, gt=0, le=1)
    beta_min: float = 0.8
    beta_max: float = 1.2
    max_var: float = Field(default=0.03, gt=0, description="one-period VaR limit as a fraction of equity")
    var_alpha: float = Field(default=0.95, ge=0.5, lt=1)
    var_method: VaRMethod = "historical"
    max_adv_fraction: float = Field(default=0.05, gt=0, description="max order size as a fraction of ADV")
    vix_block: float = Field(default=35.0, gt=0, description="no new positions while VIX is above this")
    max_drawdown: float = Field(default=0.15, gt=0, lt=1, description="drawdown that trips the circuit breaker")
    fractional_shares: bool = False


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """What the gate knows about the market at decision time (arrays over the universe).

    ``returns`` is a ``(T, n)`` history of per-period returns for VaR (``None`` skips the VaR check).
    """

    prices: Float64Array
    adv: Float64Array
    betas: Float64Array
    sectors: npt.NDArray[np.generic]
    vix: float
    returns: Float64Array | None = None


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The account at decision time: ``positions`` in shares per ticker (negative = short)."""

    equity: float
    buying_power: float
    positions: Float64Array
    peak_equity: float
    kill_switch: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's verdict on one proposed order."""

    index: int
    action: Action
    requested: float
    approved: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GateResult:
    """Approved share deltas for the whole universe plus one :class:`Decision` per proposed order."""

    approved: Float64Array
    decisions: tuple[Decision, ...]
    portfolio_reasons: tuple[str, ...] = field(default=())

    def by_action(self, action: Action) -> tuple[Decision, ...]:
        """Return the decisions with ``action``."""
        return tuple(d for d in self.decisions if d.action == action)


@dataclass(slots=True)
class _Work:
    market: MarketSnapshot
    account: AccountSnapshot
    requested: Float64Array
    delta: Float64Array
    reasons: list[list[str]]
    portfolio: list[str]

    def note(self, mask: BoolArray, reason: str) -> None:
        for i in np.flatnonzero(mask & (self.requested != 0)):
            self.reasons[i].append(reason)

    def weights(self, delta: Float64Array | None = None) -> Float64Array:
        d = self.delta if delta is None else delta
        return np.asarray((self.account.positions + d) * self.market.prices / self.account.equity, dtype=np.float64)


class RiskGate:
    """Check proposed orders against :class:`GateLimits`; see the module docstring for the order.

    Examples
    --------
    >>> gate = RiskGate(GateLimits(max_weight=0.05))
    >>> market = MarketSnapshot(np.array([100.0]), np.array([1e6]), np.array([1.0]), np.array(["Tech"]), vix=20.0)
    >>> account = AccountSnapshot(1e5, 1e5, np.array([0.0]), 1e5)
    >>> res = gate.check_deltas(np.array([80.0]), market, account)
    >>> res.decisions[0].action, res.decisions[0].approved
    ('resize', 50.0)
    """

    def __init__(self, limits: GateLimits | None = None) -> None:
        self.limits = limits or GateLimits()

    def check_weights(
        self, target_weights: npt.ArrayLike, market: MarketSnapshot, account: AccountSnapshot
    ) -> GateResult:
        """Convert target weights to share deltas at ``market.prices`` and check them."""
        w = np.asarray(target_weights, dtype=np.float64)
        return self.check_deltas(w * account.equity / market.prices - account.positions, market, account)

    def check_deltas(self, deltas: npt.ArrayLike, market: MarketSnapshot, account: AccountSnapshot) -> GateResult:
        """Return the approved share deltas and a decision for every non-zero proposed delta."""
        work = self._start(deltas, market, account)
        for check in (self._kill, self._drawdown, self._vix, self._stock, self._sector, self._adv,
                      self._buying_power, self._beta, self._var, self._round):
            check(work)
        return _result(work)

    def _start(self, deltas: npt.ArrayLike, market: MarketSnapshot, account: AccountSnapshot) -> _Work:
        d = np.asarray(deltas, dtype=np.float64).reshape(-1)
        n = d.shape[0]
        for name, arr in (("prices", market.prices), ("adv", market.adv), ("betas", market.betas),
                          ("positions", account.positions)):
            if np.shape(arr) != (n,):
                raise RiskError(f"{name} has shape {np.shape(arr)}, expected ({n},)")
        if not (account.equity > 0 and np.all(market.prices > 0) and np.all(np.isfinite(d))):
            raise RiskError("equity and prices must be > 0 and deltas finite")
        return _Work(market, account, d.copy(), d.copy(), [[] for _ in range(n)], [])

    def _kill(self, w: _Work) -> None:
        if w.account.kill_switch:
            w.note(w.delta != 0, "kill switch engaged")
            w.delta[:] = 0.0

    def _drawdown(self, w: _Work) -> None:
        dd = 1.0 - w.account.equity / max(w.account.peak_equity, w.account.equity)
        if dd >= self.limits.max_drawdown:
            cur, new = w.account.positions, w.account.positions + w.delta
            reducing = (np.abs(new) <= np.abs(cur)) & (np.sign(new) * np.sign(cur) >= 0)
            block = (w.delta != 0) & ~reducing
            w.note(block, f"drawdown circuit breaker: drawdown {dd:.2%} >= {self.limits.max_drawdown:.2%}")
            w.delta[block] = 0.0

    def _vix(self, w: _Work) -> None:
        if w.market.vix > self.limits.vix_block:
            opening = (w.account.positions == 0) & (w.delta != 0)
            w.note(opening, f"VIX {w.market.vix:.1f} > {self.limits.vix_block:.1f}: no new positions")
            w.delta[opening] = 0.0

    def _stock(self, w: _Work) -> None:
        cur, target = w.account.positions, w.account.positions + w.delta
        cap = self.limits.max_weight * w.account.equity / w.market.prices
        allowed = np.maximum(cap, np.where(np.sign(cur) == np.sign(target), np.abs(cur), 0.0))
        over = np.abs(target) > allowed * (1 + 1e-12)
        w.note(over, f"per-stock limit {self.limits.max_weight:.2%}")
        w.delta = np.where(over, np.sign(target) * allowed - cur, w.delta)

    def _sector(self, w: _Work) -> None:
        labels = np.asarray(w.market.sectors)
        before = w.weights(np.zeros_like(w.delta))
        for sector in np.unique(labels):
            self._sector_one(w, labels == sector, float(before[labels == sector].sum()), str(sector))

    def _sector_one(self, w: _Work, m: BoolArray, before: float, sector: str) -> None:
        cap = self.limits.max_sector_weight
        after = float(w.weights()[m].sum())
        if abs(after) <= max(cap, abs(before)) + 1e-12:
            return
        sign = np.sign(after)
        limit = sign * max(cap, abs(before) if np.sign(before) == sign else 0.0)
        dw = w.delta * w.market.prices / w.account.equity
        pushing = m & (np.sign(dw) == sign)
        push = float(dw[pushing].sum())
        scale = float(np.clip((limit - (after - push)) / push, 0.0, 1.0))
        w.note(pushing, f"sector {sector} limit {cap:.2%}")
        w.delta[pushing] *= scale

    def _adv(self, w: _Work) -> None:
        cap = self.limits.max_adv_fraction * w.market.adv
        over = np.abs(w.delta) > cap
        w.note(over, f"order above {self.limits.max_adv_fraction:.1%} of ADV")
        w.delta = np.where(over, np.sign(w.delta) * cap, w.delta)

    def _buying_power(self, w: _Work) -> None:
        notional = w.delta * w.market.prices
        buys, sells = notional[notional > 0].sum(), -notional[notional < 0].sum()
        if buys > w.account.buying_power + sells:
            scale = max(0.0, (w.account.buying_power + sells) / buys)
            w.note(notional > 0, f"buying power {w.account.buying_power:,.2f}")
            w.delta = np.where(notional > 0, w.delta * scale, w.delta)

    def _beta(self, w: _Work) -> None:
        """Scale only the orders that push beta away from the band; orders towards it always pass."""
        lo, hi = self.limits.beta_min, self.limits.beta_max
        b0 = float(w.weights(np.zeros_like(w.delta)) @ w.market.betas)
        contrib = w.delta * w.market.prices * w.market.betas / w.account.equity
        b1 = b0 + float(contrib.sum())
        bound = max(hi, b0) if b1 > hi else min(lo, b0)
        if lo <= b1 <= hi or (b1 > hi and b1 <= bound + 1e-12) or (b1 < lo and b1 >= bound - 1e-12):
            return
        up = b1 > hi
        away = (contrib > 0) if up else (contrib < 0)
        push, rest = float(contrib[away].sum()), float(contrib[~away].sum())
        scale = float(np.clip((bound - b0 - rest) / push, 0.0, 1.0)) if push != 0 else 0.0
        reason = f"portfolio beta {b1:.2f} outside [{lo}, {hi}] (was {b0:.2f})"
        w.note(away & (w.delta != 0), reason)
        w.portfolio.append(reason)
        w.delta = np.where(away, w.delta * scale, w.delta)

    def _var(self, w: _Work) -> None:
        history = w.market.returns
        if history is None:
            return
        lim = self.limits

        def var(scale: float) -> float:
            weights = w.weights(w.delta * scale)
            return portfolio_var(weights, history, lim.var_alpha, lim.var_method).var

        v0, v1 = var(0.0), var(1.0)
        if v1 <= max(lim.max_var, v0) + 1e-12:
            return
        eq, prices = w.account.equity, w.market.prices
        cut = cut_to_var(w.account.positions * prices / eq, w.delta * prices / eq, history, lim.max_var,
                         lim.var_alpha, lim.var_method)
        head = f"VaR{lim.var_alpha * 100:.0f} {v1:.2%} above limit {lim.max_var:.2%}"
        for c in cut.cuts:
            w.reasons[c.index].append(f"{head}: order adds {c.incremental_var:.3%} to VaR (incremental), cut to "
                                      f"{c.scale:.0%} of it, VaR then {c.var_after:.2%}")
        w.portfolio.append(f"{head}: cut {len(cut.cuts)} order(s) adding most to VaR, {len(cut.reducing)} "
                           f"risk-reducing order(s) untouched; VaR after {cut.var_after:.2%}")
        w.delta = w.delta * cut.scale

    def _round(self, w: _Work) -> None:
        if not self.limits.fractional_shares:
            w.delta = np.trunc(w.delta + np.sign(w.delta) * 1e-9)


def _result(w: _Work) -> GateResult:
    decisions = []
    idx = np.flatnonzero(w.requested != 0)
    requested, approved = w.requested[idx], w.delta[idx]
    close = np.isclose(approved, requested, rtol=1e-9, atol=1e-9).tolist()  # once, not per order
    for i, req, app, same in zip(idx.tolist(), requested.tolist(), approved.tolist(), close, strict=True):
        action: Action = "reject" if app == 0 else ("accept" if same else "resize")
        if action != "accept" and not w.reasons[i]:
            w.reasons[i].append("rounded to whole shares")
        decisions.append(Decision(i, action, req, app, tuple(w.reasons[i])))
    return GateResult(w.delta, tuple(decisions), tuple(w.portfolio))
