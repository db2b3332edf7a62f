r"""Tax-aware terms for the optimiser and a loss-harvesting planner.

Tax cost of selling
-------------------
Selling a position relieves its lots cheapest-tax first (losses, then long-term gains,
then short-term gains), so the tax of selling :math:`x` dollars is a convex,
piecewise-linear function :math:`T(x)` with breakpoints at the lots. Per lot with value
:math:`v = q\,p` and gain :math:`g = q\,p - \text{basis}`, the tax per dollar sold is
:math:`\tau\, g / v` with :math:`\tau` the short- or long-term rate. :func:`tax_cost_expression`
gives :math:`\sum_i T_i(\text{equity}\cdot(w_{0,i} - w_i)^+)/\text{equity}` as a cvxpy
expression the optimiser can subtract from its objective (losses' negative tax is clipped
to zero there so the term stays convex; harvesting handles losses).

Hook: ``objective - tax_cost_expression(w, w0, schedules)`` in
:mod:`tftrade.portfolio.optimizer` (not wired: owned elsewhere).

Loss harvesting
---------------
:func:`plan_harvest` sells lots whose loss exceeds a threshold and buys a configured
substitute (a different, not substantially identical security) with the proceeds; it
skips a ticker bought in the last 30 days (the sale's loss would be washed) and says
until when the original must not be bought back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from tftrade.portfolio.errors import PortfolioError


@dataclass(frozen=True, slots=True)
class OpenLot:
    """What the planner needs of a tax lot: shares, adjusted basis, holding-period start, purchase day."""

    ticker: str
    lot_id: str
    shares: Decimal
    basis: Decimal
    acquired: date
    purchased: date


def _long_term(acquired: date, on: date) -> bool:
    try:
        anniversary = acquired.replace(year=acquired.year + 1)
    except ValueError:
        anniversary = acquired.replace(year=acquired.year + 1, day=28)
    return on > anniversary


@dataclass(frozen=True, slots=True)
class TaxSchedule:
    """Convex tax-of-selling schedule of one asset: tranche sizes (dollars) and tax per dollar, ascending."""

    sizes: tuple[float, ...]
    rates: tuple[float, ...]

    def tax(self, sold: float) -> float:
        """Tax of selling ``sold`` dollars (losses give negative tax)."""
        left, total = sold, 0.0
        for size, rate in zip(self.sizes, self.rates, strict=True):
            take = min(size, max(left, 0.0))
            total += take * rate
            left -= take
        return total


def tax_schedule(lots: Sequence[OpenLot], price: Decimal, on: date, short_rate: float, long_rate: float,
                 resolution: float = 0.0) -> TaxSchedule:
    """The selling schedule of one asset's lots at ``price`` on ``on``.

    ``resolution`` > 0 merges neighbouring tranches whose tax per dollar is within it of the
    first of them (value-weighted: the tax of selling a merged tranche whole is unchanged, and
    the schedule stays convex) — fewer breakpoints for an asset built up in many small lots.

    >>> lots = [OpenLot("X", str(i), Decimal(1), Decimal(90 + i), date(2025, 1, 2), date(2025, 1, 2))
    ...         for i in range(4)]
    >>> s = tax_schedule(lots, Decimal(100), date(2025, 6, 2), 0.4, 0.2, resolution=0.01)
    >>> s.sizes, [round(r, 4) for r in s.rates], round(s.tax(400), 6) == round(0.4 * (10 + 9 + 8 + 7), 6)
    ((300.0, 100.0), [0.032, 0.04], True)
    """
    tranches = []
    for lot in lots:
        value = lot.shares * price
        if value <= 0:
            continue
        rate = long_rate if _long_term(lot.acquired, on) else short_rate
        tranches.append((float(value), rate * float((value - lot.basis) / value)))
    tranches.sort(key=lambda t: t[1])
    if resolution > 0:
        tranches = _merged(tranches, resolution)
    return TaxSchedule(tuple(t[0] for t in tranches), tuple(t[1] for t in tranches))


def _merged(tranches: list[tuple[float, float]], resolution: float) -> list[tuple[float, float]]:
    out: list[tuple[float, float, float]] = []  # size, tax, first rate
    for size, rate in tranches:
        if out and rate - out[-1][2] <= resolution:
            s, tax, first = out[-1]
            out[-1] = (s + size, tax + size * rate, first)
        else:
            out.append((size, size * rate, rate))
    return [(s, tax / s) for s, tax, _ in out]


def tax_cost(w: np.ndarray, w0: np.ndarray, schedules: Sequence[TaxSchedule | None], equity: float) -> float:
    """:math:`\\sum_i T_i(\\text{equity}(w_0 - w)^+) / \\text{equity}` (numpy, for checks and reports)."""
    sold = np.maximum(np.asarray(w0) - np.asarray(w), 0.0) * equity
    return sum(s.tax(float(x)) for s, x in zip(schedules, sold, strict=True) if s is not None) / equity


def tax_cost_expression(w: Any, w0: np.ndarray, schedules: Sequence[TaxSchedule | None], equity: float) -> Any:
    """The convex cvxpy expression of :func:`tax_cost` (negative rates clipped to 0)."""
    import cvxpy

    cp: Any = cvxpy  # cvxpy's type hints are incomplete (cp.pos is untyped)
    terms = []
    for i, s in enumerate(schedules):
        if s is None or not s.sizes:
            continue
        sold = cp.pos(w0[i] - w[i]) * equity
        start, prev_rate = 0.0, 0.0
        for size, rate in zip(s.sizes, s.rates, strict=True):
            rate = max(rate, 0.0)
            if rate > prev_rate:
                terms.append((rate - prev_rate) * cp.pos(sold - start))
                prev_rate = rate
            start += size
    return (sum(terms) / equity) if terms else cp.Constant(0.0)


@dataclass(frozen=True, slots=True)
class HarvestTrade:
    """Sell ``lots`` of ``ticker`` (loss ``loss``), buy ``substitute`` for the proceeds."""

    ticker: str
    shares: Decimal
    lots: tuple[str, ...]
    loss: Decimal
    proceeds: Decimal
    substitute: str
    substitute_shares: Decimal
    no_repurchase_until: date


@dataclass(frozen=True, slots=True)
class HarvestPlan:
    """Trades to make and tickers skipped (with the reason)."""

    trades: tuple[HarvestTrade, ...]
    skipped: tuple[tuple[str, str], ...]

    @property
    def harvested(self) -> Decimal:
        """Total loss realised by the plan."""
        return sum((t.loss for t in self.trades), Decimal(0))


def plan_harvest(lots: Sequence[OpenLot], prices: Mapping[str, Decimal], on: date, *,
                 substitutes: Mapping[str, str], min_loss_fraction: Decimal = Decimal("0.05"),
                 min_loss: Decimal = Decimal("100"), groups: Mapping[str, str] | None = None) -> HarvestPlan:
    """Plan loss-harvesting trades on ``on`` (see the module docstring).

    A lot qualifies when its loss is at least ``min_loss_fraction`` of its basis; a ticker is
    harvested when its qualifying lots lose at least ``min_loss`` dollars in total.

    Raises
    ------
    PortfolioError
        If a substitute is the ticker itself or in its group of substantially identical securities.
    """
    group = dict(groups or {})
    for t, sub in substitutes.items():
        if sub == t or group.get(sub, sub) == group.get(t, t):
            raise PortfolioError(f"substitute {sub} for {t} is substantially identical to it; choose another security")
    trades, skipped = [], []
    for ticker in sorted({lot.ticker for lot in lots}):
        own = [lot for lot in lots if lot.ticker == ticker]
        if ticker not in prices:
            skipped.append((ticker, "no price"))
            continue
        price = prices[ticker]
        losers = [lot for lot in own if lot.basis - lot.shares * price >= min_loss_fraction * lot.basis]
        loss = sum((lot.basis - lot.shares * price for lot in losers), Decimal(0))
        if not losers or loss < min_loss:
            continue
        recent = [lot for lot in own if lot not in losers and on - lot.purchased <= timedelta(days=30)]
        if recent:
            skipped.append((ticker, f"bought on {recent[0].purchased}, within 30 days: the loss would be washed"))
            continue
        sub = substitutes.get(ticker, "")
        if not sub or sub not in prices or prices[sub] <= 0:
            skipped.append((ticker, "no substitute configured (or no price for it)"))
            continue
        shares = sum((lot.shares for lot in losers), Decimal(0))
        proceeds = shares * price
        trades.append(HarvestTrade(ticker, shares, tuple(lot.lot_id for lot in losers), loss, proceeds, sub,
                                   (proceeds / prices[sub]).to_integral_value(rounding="ROUND_FLOOR"),
                                   on + timedelta(days=31)))
    return HarvestPlan(tuple(trades), tuple(skipped))
