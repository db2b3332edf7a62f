"""Tax alpha: what taxes take from a return, and what lot relief and loss harvesting give back.

Tax is estimated on the year's net short- and long-term gains with the usual netting (a net
loss in one class offsets a net gain in the other; a net loss overall costs no tax):

.. math::

    \\text{tax} = r_S \\max(S + \\min(L, 0), 0)\\,[S > 0] + r_L \\max(L + \\min(S, 0), 0)\\,[L > 0]

:meth:`YearGains.tax_with_offset` adds last year's capital-loss carryover and deducts a net
loss from ordinary income up to $3,000 ($1,500 married filing separately) at the ordinary rate,
carrying the rest (:mod:`~tftrade.compliance.capital_loss`); a run's tax alpha uses it.
The tearsheet calls :func:`tax_alpha_summary`; ``tftrade tax alpha`` prints
:func:`method_comparison` (each year on its own, before the offset).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from tftrade.compliance.capital_loss import Carryover, FilingStatus, LossLimit, limit_losses
from tftrade.compliance.errors import TaxReportError
from tftrade.compliance.ledger import build_ledger
from tftrade.compliance.money import ZERO, cents
from tftrade.compliance.tax_lots import Disposition
from tftrade.compliance.transactions import SIDE_OF_ACTION, Method, Split, Transaction
from tftrade.execution.lots import exact

DEFAULT_RATES = (Decimal("0.37"), Decimal("0.20"))


@dataclass(frozen=True, slots=True)
class YearGains:
    """Recognised gains of a year by holding period, and the wash-sale losses disallowed in it."""

    short_term: Decimal
    long_term: Decimal
    disallowed: Decimal
    sales: int

    def tax(self, rates: tuple[Decimal, Decimal] = DEFAULT_RATES) -> Decimal:
        """Estimated tax at (short-term, long-term) ``rates`` (see the module docstring)."""
        return netted_tax(self.short_term, self.long_term, rates)

    def tax_with_offset(self, carry_in: Carryover, rates: tuple[Decimal, Decimal] = DEFAULT_RATES,
                        ordinary_rate: Decimal | None = None,
                        status: FilingStatus = "single") -> tuple[Decimal, LossLimit]:
        """Tax after last year's carryover and the capital-loss offset against ordinary income.

        A net loss is deducted up to the limit (:func:`~tftrade.compliance.capital_loss.limit_losses`)
        at ``ordinary_rate`` (default: the short-term rate, which is the ordinary rate), which gives
        negative tax; the rest is carried over with its character.

        >>> tax, lim = YearGains(Decimal(-10000), ZERO, ZERO, 1).tax_with_offset(Carryover())
        >>> tax, lim.deduction, lim.carry_out.short_term
        (Decimal('-1110.00'), Decimal('3000.00'), Decimal('7000.00'))
        """
        lim = limit_losses(self.short_term, self.long_term, carry_in, status)
        ordinary = rates[0] if ordinary_rate is None else ordinary_rate
        return netted_tax(lim.net_short, lim.net_long, rates) - cents(lim.deduction * ordinary), lim


def netted_tax(short_term: Decimal, long_term: Decimal, rates: tuple[Decimal, Decimal] = DEFAULT_RATES) -> Decimal:
    """Tax of net short- and long-term gains with netting between the classes, to the cent (module docstring)."""
    s, lt = short_term, long_term
    taxed_s = max(s + min(lt, ZERO), ZERO) if s > 0 else ZERO
    taxed_l = max(lt + min(s, ZERO), ZERO) if lt > 0 else ZERO
    return cents(taxed_s * rates[0] + taxed_l * rates[1])


def year_gains(dispositions: Sequence[Disposition], year: int, account: str | None = None) -> YearGains:
    """Sum the year's dispositions (of one account, or all)."""
    return period_gains(dispositions, date(year, 1, 1), date(year + 1, 1, 1), account)


def period_gains(dispositions: Sequence[Disposition], start: date, end: date, account: str | None = None) -> YearGains:
    """Sum the dispositions sold in ``[start, end)`` (of one account, or all)."""
    chosen = [d for d in dispositions if start <= d.sold < end and (account is None or d.account == account)]
    return YearGains(sum((d.gain for d in chosen if d.term == "short"), ZERO),
                     sum((d.gain for d in chosen if d.term == "long"), ZERO),
                     sum((d.disallowed for d in chosen), ZERO), len(chosen))


def tax_alpha_summary(pre_tax_return: float, start_equity: Decimal, gains: YearGains, deferred_losses: Decimal,
                      rates: tuple[Decimal, Decimal] = DEFAULT_RATES) -> dict[str, Any]:
    """After-tax vs pre-tax return, the tax, short- vs long-term gains and the losses deferred by wash sales.

    ``pre_tax_return`` is the period's simple return (analytics floats); money stays Decimal.
    """
    if start_equity <= 0:
        raise TaxReportError(f"start equity {start_equity} must be positive")
    tax = gains.tax(rates)
    drag = float(tax / start_equity)
    return {"pre_tax_return": pre_tax_return, "after_tax_return": pre_tax_return - drag, "tax": tax,
            "tax_drag": drag, "short_term_gains": gains.short_term, "long_term_gains": gains.long_term,
            "disallowed_in_year": gains.disallowed, "deferred_losses": deferred_losses, "sales": gains.sales,
            "rates": {"short_term": rates[0], "long_term": rates[1]}}


def method_comparison(transactions: Sequence[Transaction], splits: Sequence[Split], year: int, *,
                      account: str | None = None, rates: tuple[Decimal, Decimal] = DEFAULT_RATES,
                      chosen: Method = "fifo", ira_accounts: Sequence[str] = ()) -> dict[str, Any]:
    """The year's gains and tax under each relief method; tax alpha of ``chosen`` against FIFO.

    Raises
    ------
    TaxReportError
        If there is no sale in the year.
    """
    rows = []
    tax: dict[str, Decimal] = {}
    methods: tuple[Method, ...] = ("fifo", "lifo", "hifo", "mintax")
    for method in methods:
        ledger = build_ledger(transactions, splits, method, ira_accounts=ira_accounts)
        g = year_gains(ledger.taxable_dispositions(), year, account)
        if g.sales == 0:
            raise TaxReportError(f"no sales in {year}{' in account ' + account if account else ''}")
        tax[method] = g.tax(rates)
        rows.append({"method": method, "short_term": cents(g.short_term), "long_term": cents(g.long_term),
                     "disallowed": cents(g.disallowed), "deferred_losses": cents(ledger.deferred_losses()),
                     "tax": tax[method]})
    pick = chosen if chosen in tax else "fifo"
    return {"year": year, "account": account, "methods": rows, "chosen": pick,
            "tax_saved_vs_fifo": tax["fifo"] - tax[pick], "rates": {"short_term": rates[0], "long_term": rates[1]}}


def transactions_from_trades(trades: pd.DataFrame, account: str = "backtest") -> tuple[list[Transaction], int]:
    """A run's trade records (``BUY``/``SELL``/``SHORT``/``COVER``) as transactions, and how many were skipped
    (records of an unknown action; none from tftrade's own runs).

    The frame's prices and commissions are the backtest's floats; each is taken by its
    shortest repr (``0.1`` is ``Decimal('0.1')``), as the execution ledger does. Trade
    dates are New York dates.
    """
    out: list[Transaction] = []
    skipped = 0
    if trades is None or not len(trades):
        return out, 0
    tz = ZoneInfo("America/New_York")
    for i, r in enumerate(trades.itertuples(index=False)):
        side = SIDE_OF_ACTION.get(str(r.action))
        if side is None:
            skipped += 1
            continue
        day = pd.Timestamp(r.timestamp).tz_convert(tz).date()
        charge = float(r.commission) + sum(float(getattr(r, c, 0.0)) for c in ("sec_fee", "finra_taf"))
        fees = exact(charge) if charge == charge else Decimal(0)  # commission and regulatory fees
        out.append(Transaction(account, str(r.ticker), day, side, abs(exact(float(r.quantity))),
                               exact(float(r.price)), fees, f"{r.order_id}#{i}"))
    return out, skipped
