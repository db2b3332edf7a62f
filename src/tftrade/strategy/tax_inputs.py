"""A strategy's tax inputs: the optimiser's tax of selling, and tax-loss harvesting, from the ledger's lots.

Both read the open lots of the one position ledger that the trading loop hands the strategy
(:attr:`~tftrade.strategy.contract.AccountState.lots`); backtest and live see the same lots, so
they make the same decisions. Dates are New York dates (the trade date of a US equity).

- :func:`tax_term` builds, per asset, the convex tax-of-selling schedule of its long lots at
  the decision time (:func:`~tftrade.portfolio.tax.tax_schedule`: gain per lot, the short- or
  long-term rate by holding period on the decision date) for
  :func:`~tftrade.portfolio.optimize`'s ``tax=`` argument. Short lots have none (covering is a
  purchase).
- :class:`Harvester` sells a whole position that lost at least the thresholds (all its lots
  together, :func:`~tftrade.portfolio.tax.plan_harvest`: selling every share leaves none
  bought in the last 30 days to wash the loss), buys the configured substitute — never the
  same ticker or group — for its weight, and then keeps the original from being bought back
  for 31 days after the sale fills (the wash-sale window; counted from the decision plus
  ``fill_lag_days``); it never buys a substitute harvested in that window.

The ledger's lots are cost basis with commissions and no wash-sale adjustment (the ledger
books fills, not §1091): after a washed loss a lot's basis here is its cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tftrade.core.types import Float64Array
from tftrade.portfolio.optimizer import TaxTerm
from tftrade.portfolio.tax import HarvestTrade, OpenLot, plan_harvest, tax_schedule
from tftrade.strategy.contract import AccountState, LotSource

_NY = ZoneInfo("America/New_York")


class TaxAwareConfig(BaseModel):
    """Rates of the optimiser's tax-of-selling term (frozen, unknown keys rejected)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    short_rate: float = Field(default=0.37, ge=0, le=1, description="tax rate on short-term gains")
    long_rate: float = Field(default=0.20, ge=0, le=1, description="tax rate on long-term gains")
    resolution: float = Field(default=0.005, ge=0, le=1,
                              description="merge lots whose tax per dollar sold is this close (fewer breakpoints)")


class HarvestConfig(BaseModel):
    """Tax-loss harvesting: which substitute to buy for which ticker, and the thresholds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    substitutes: dict[str, str] = Field(description="ticker -> substitute (not substantially identical)")
    min_loss_fraction: Decimal = Field(default=Decimal("0.05"), ge=0, lt=1, description="loss / basis of each lot")
    min_loss: Decimal = Field(default=Decimal("100"), ge=0, description="dollars of loss per ticker")
    groups: dict[str, str] = Field(default_factory=dict, description="ticker -> group of identical securities")
    fill_lag_days: int = Field(default=5, ge=0, le=30,
                               description="calendar days a decision's orders may take to fill (a daily bar's fill "
                               "waits for the next session): the no-repurchase window is this much longer")

    @field_validator("min_loss_fraction", "min_loss", mode="before")
    @classmethod
    def _exact(cls, v: object) -> object:
        return Decimal(repr(v)) if isinstance(v, float) else v

    def model_post_init(self, _context: object) -> None:
        for ticker, sub in self.substitutes.items():
            if sub == ticker or self.groups.get(sub, sub) == self.groups.get(ticker, ticker):
                raise ValueError(f"substitute {sub} for {ticker} is substantially identical to it; "
                                 "choose another security")


def ny_date(timestamp_ns: int) -> date:
    """The New York date of a UTC nanosecond timestamp.

    >>> ny_date(1_735_790_400_000_000_000)  # 2025-01-02 04:00 UTC
    datetime.date(2025, 1, 1)
    """
    return datetime.fromtimestamp(timestamp_ns // 10**9, _NY).date()


def long_lots(source: LotSource, ticker: str) -> list[OpenLot]:
    """The long lots of ``ticker`` as the planner's :class:`~tftrade.portfolio.tax.OpenLot` (oldest first)."""
    out = []
    for lot in source.lots(ticker):
        if lot.quantity > 0:
            day = ny_date(lot.opened_ns)
            out.append(OpenLot(ticker, lot.order_id, lot.quantity, lot.cost, day, day))
    return out


def _position(lots: Sequence[OpenLot]) -> OpenLot | None:
    """A ticker's lots as one: harvesting sells the whole position, so no share bought in the 30 days before
    the sale is left to wash its loss (and first-in-first-out relief cannot pick other lots)."""
    if not lots:
        return None
    shares = sum((lot.shares for lot in lots), Decimal(0))
    basis = sum((lot.basis for lot in lots), Decimal(0))
    first, last = lots[0], lots[-1]
    return OpenLot(first.ticker, "+".join(lot.lot_id for lot in lots) if len(lots) < 4 else
                   f"{first.lot_id}..{last.lot_id} ({len(lots)} lots)", shares, basis, first.acquired, last.purchased)


def _price(p: float) -> Decimal | None:
    return Decimal(repr(float(p))) if np.isfinite(p) and p > 0 else None


def tax_term(account: AccountState, tickers: Sequence[str], prices: Float64Array, now_ns: int,
             config: TaxAwareConfig) -> TaxTerm | None:
    """The optimiser's tax term over ``tickers`` (prices aligned), or ``None`` without a ledger."""
    if account.lots is None or not account.equity > 0:
        return None
    on = ny_date(now_ns)
    schedules = []
    for ticker, p in zip(tickers, prices, strict=True):
        lots, price = long_lots(account.lots, ticker), _price(float(p))
        schedules.append(tax_schedule(lots, price, on, config.short_rate, config.long_rate, config.resolution)
                         if lots and price is not None else None)
    return TaxTerm(schedules, float(account.equity))


class Harvester:
    """Tax-loss harvesting inside a strategy's decision (see the module docstring); keeps the 31-day blocks."""

    def __init__(self, config: HarvestConfig, max_weight: float) -> None:
        self.config, self.max_weight = config, max_weight
        self.blocked: dict[str, date] = {}
        """Ticker -> first day it may be bought again."""

    def apply(self, weights: Float64Array, tickers: Sequence[str], prices: Float64Array, account: AccountState,
              now_ns: int) -> tuple[Float64Array, list[str], list[str]]:
        """Harvest on top of the optimiser's ``weights``; return the weights, per-ticker reasons and notes.

        A reason is empty for a ticker the harvester left alone; a blocked original that the
        weights would buy is held instead (NaN: leave the position alone).
        """
        w = np.array(weights, dtype=np.float64)
        why = [""] * len(tickers)
        if account.lots is None:
            return w, why, []
        on, index = ny_date(now_ns), {t: i for i, t in enumerate(tickers)}
        self.blocked = {t: until for t, until in self.blocked.items() if on < until}
        notes = self._harvest(w, why, tickers, prices, account, on, index)
        for t, until in self.blocked.items():
            i = index.get(t)
            if i is not None and np.isfinite(w[i]) and w[i] > max(float(account.weights[i]), 0.0) + 1e-12 \
                    and not why[i]:
                w[i] = np.nan
                why[i] = f"tax-loss harvest: not bought back before {until} (wash-sale window)"
        return w, why, notes

    def _harvest(self, w: Float64Array, why: list[str], tickers: Sequence[str], prices: Float64Array,
                 account: AccountState, on: date, index: dict[str, int]) -> list[str]:
        assert account.lots is not None
        cfg, notes = self.config, []
        positions = [_position(long_lots(account.lots, t)) for t in tickers if t in cfg.substitutes]
        lots = [p for p in positions if p is not None]
        price = {t: p for t, x in zip(tickers, prices, strict=True) if (p := _price(float(x))) is not None}
        plan = plan_harvest(lots, price, on, substitutes=cfg.substitutes, min_loss_fraction=cfg.min_loss_fraction,
                            min_loss=cfg.min_loss, groups=cfg.groups)
        for trade in plan.trades:
            skip = self._skip(trade, index)
            if skip:
                notes.append(f"tax-loss harvest of {trade.ticker} skipped: {skip}")
                continue
            i, j = index[trade.ticker], index[trade.substitute]
            moved = max(float(account.weights[i]), 0.0)
            w[i] = 0.0
            base = float(account.weights[j]) if not np.isfinite(w[j]) else float(w[j])
            w[j] = min(max(base, 0.0) + moved, max(self.max_weight, base))
            until = trade.no_repurchase_until + timedelta(days=cfg.fill_lag_days)
            self.blocked[trade.ticker] = until
            why[i] = (f"tax-loss harvest: sell {trade.shares} sh. (lots {', '.join(trade.lots)}) at a loss of "
                      f"${trade.loss:,.2f}; buy {trade.substitute}; no repurchase before {until}")
            why[j] = f"tax-loss harvest: substitute for {trade.ticker}, target {w[j]:.2%}"
        notes += [f"tax-loss harvest of {t} skipped: {reason}" for t, reason in plan.skipped]
        return notes

    def _skip(self, trade: HarvestTrade, index: dict[str, int]) -> str:
        if trade.substitute not in index:
            return f"substitute {trade.substitute} is not in the traded universe"
        if trade.substitute in self.blocked:
            return f"substitute {trade.substitute} was harvested within 30 days (buying it would wash that loss)"
        return ""
