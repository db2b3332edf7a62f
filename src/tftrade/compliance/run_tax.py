"""Tax alpha of a backtest run: its trades through the tax-lot ledger, as the tearsheet shows it.

The run's ``BUY``/``SELL`` trades are booked FIFO in a :class:`~tftrade.compliance.ledger.TaxLedger`
(wash sales applied). Each calendar year's short- and long-term gains are netted with last
year's capital-loss carryover and taxed, a net loss deducted from ordinary income up to the
limit (:meth:`~tftrade.compliance.tax_alpha.YearGains.tax_with_offset`); the run's tax is the sum, and
:func:`~tftrade.compliance.tax_alpha.tax_alpha_summary` turns it into after-tax vs pre-tax
return. Money is exact (``Decimal``) and written as strings, so the result can go into a run's
``summary.json`` as it is.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd

from tftrade.compliance.capital_loss import Carryover, FilingStatus, loss_limit
from tftrade.compliance.errors import TaxLotError, TaxReportError
from tftrade.compliance.ledger import build_ledger
from tftrade.compliance.money import ZERO, cents
from tftrade.compliance.tax_alpha import DEFAULT_RATES, YearGains, tax_alpha_summary, year_gains
from tftrade.compliance.transactions import Method
from tftrade.execution.lots import exact

HARVEST = "tax-loss harvest"
"""How the rationale of a harvesting order starts (:class:`~tftrade.strategy.tax_inputs.Harvester`)."""


def run_tax_alpha(trades: pd.DataFrame, start_equity: float, pre_tax_return: float,
                  rates: tuple[Decimal, Decimal] = DEFAULT_RATES, method: Method = "fifo", *,
                  ordinary_rate: Decimal | None = None, status: FilingStatus = "single") -> dict[str, Any]:
    """The tax-alpha section of a run (see the module docstring); JSON-ready.

    Keys: ``pre_tax_return``, ``after_tax_return``, ``tax``, ``tax_drag``, ``short_term_gains``,
    ``long_term_gains``, ``disallowed_in_year`` (losses washed over the run), ``deferred_losses``
    (washed losses still in open lots' basis at the end), ``sales``, ``rates``, ``years`` (one
    row per calendar year), ``method``, ``skipped_short_trades``; the capital-loss offset:
    ``loss_deducted`` (net losses deducted from ordinary income, at most the limit a year),
    ``loss_offset_benefit`` (that times ``ordinary_rate``, default the short-term rate: it is in
    ``tax`` as negative tax), ``carryover`` (loss left to carry at the end, by character),
    ``filing_status``, ``loss_limit``; tax-loss harvesting: ``harvested_losses`` (losses realised
    by harvesting sales, after wash sales), ``harvest_sales`` and ``harvest_washed`` (their loss
    disallowed by a wash sale: 0 when the no-repurchase window held); or ``error`` when the trades
    cannot be booked.

    Examples
    --------
    >>> t = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-02 15:00", "2024-01-10 15:00"], utc=True),
    ...                   "ticker": ["X", "X"], "action": ["BUY", "SELL"], "quantity": [10, 10],
    ...                   "price": [100.0, 110.0], "commission": [0.0, 0.0], "order_id": ["a", "b"]})
    >>> s = run_tax_alpha(t, 1000.0, 0.1)
    >>> s["short_term_gains"], s["tax"], round(s["after_tax_return"], 4)
    ('100.00', '37.00', 0.063)
    """
    from tftrade.compliance.tax_alpha import transactions_from_trades

    if not start_equity > 0:
        raise TaxReportError(f"start equity {start_equity} must be positive")
    rationale = _sale_rationale(trades)
    try:
        txns, skipped = transactions_from_trades(trades)
        ledger = build_ledger(txns, (), method)
    except TaxLotError as e:
        return {"error": f"the run's trades cannot be booked in tax lots: {e}"}
    disps = ledger.dispositions()
    sold_years = sorted({d.sold.year for d in disps})
    years = list(range(sold_years[0], sold_years[-1] + 1)) if sold_years else []
    per_year = [(y, year_gains(disps, y)) for y in years]
    whole = YearGains(sum((g.short_term for _, g in per_year), ZERO), sum((g.long_term for _, g in per_year), ZERO),
                      sum((g.disallowed for _, g in per_year), ZERO), sum(g.sales for _, g in per_year))
    equity = exact(start_equity)
    out = tax_alpha_summary(pre_tax_return, equity, whole, ledger.deferred_losses(), rates)
    ordinary = rates[0] if ordinary_rate is None else ordinary_rate
    carry, tax, deducted, rows = Carryover(), ZERO, ZERO, []
    for y, g in per_year:  # each year nets on its own, with last year's carryover
        year_tax, lim = g.tax_with_offset(carry, rates, ordinary, status)
        tax, deducted, carry = tax + year_tax, deducted + lim.deduction, lim.carry_out
        rows.append({"year": y, "short_term_gains": cents(g.short_term), "long_term_gains": cents(g.long_term),
                     "disallowed": cents(g.disallowed), "sales": g.sales, "loss_deducted": lim.deduction,
                     "carryover_short_term": carry.short_term, "carryover_long_term": carry.long_term,
                     "tax": year_tax})
    drag = float(tax / equity)
    harvest = {i for i, why in rationale.items() if why.startswith(HARVEST)}
    harvested = sum((-d.gain for d in disps if d.gain < 0 and d.sale_id in harvest), ZERO)
    out.update(tax=tax, tax_drag=drag, after_tax_return=pre_tax_return - drag, method=method,
               rates={"short_term": str(rates[0]), "long_term": str(rates[1]), "ordinary": str(ordinary)},
               filing_status=status, loss_limit=loss_limit(status), loss_deducted=deducted,
               loss_offset_benefit=deducted * ordinary,
               carryover={"short_term": carry.short_term, "long_term": carry.long_term},
               harvested_losses=harvested, harvest_sales=len({d.sale_id for d in disps if d.sale_id in harvest}),
               harvest_washed=sum((d.disallowed for d in disps if d.sale_id in harvest), ZERO),
               skipped_short_trades=skipped, years=rows)
    plain: dict[str, Any] = _plain(out)
    return plain


def _sale_rationale(trades: pd.DataFrame) -> dict[str, str]:
    """Transaction id (as :func:`transactions_from_trades` names it) -> the order's rationale."""
    if trades is None or not len(trades) or "rationale" not in trades.columns:
        return {}
    return {f"{oid}#{i}": str(why) for i, (oid, why) in enumerate(zip(trades["order_id"], trades["rationale"],
                                                                        strict=True))}


def _plain(obj: Any) -> Any:
    if isinstance(obj, Decimal):  # money, to the cent
        return str(cents(obj))
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj
