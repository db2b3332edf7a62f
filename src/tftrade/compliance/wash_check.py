"""The wash-sale rule as the trading loop's post-gate check (setting ``risk.wash_sale``).

:class:`WashSaleCheck` implements :class:`~tftrade.trading.loop.OrderCheck`: it books the loop's
trades in tax ledgers (one per ticker: wash sales only link substantially identical shares)
and runs :class:`~tftrade.compliance.wash_rule.WashSaleRule` on a decision's orders after the
risk gate:

* ``block`` rejects an order that would wash a loss (a buy within 30 days after a sale at a
  loss; a sale at a loss within 30 days after a buy);
* ``resize`` cuts it to the largest whole number of shares that washes nothing, rejecting it
  if that is zero.

The loop records each verdict as a gate event (``reasons`` start with ``wash sale:``), so it
shows in a backtest's gate events and in the audit chain's ``risk_check`` entries. Only
orders a wash can concern go to the rule (a buy with a loss sale of the ticker in the last
30 days; a sale with a buy in the last 30 days), so the check costs little on other bars.
Short sales and covers are outside the long-only tax lots and pass unchecked.

Examples
--------
>>> from tftrade.core.orders import TradeRecord
>>> import numpy as np
>>> day = 86_400 * 10**9
>>> check = WashSaleCheck("block")
>>> check.book([TradeRecord("X", "BUY", 10, 100.0, 20 * day, "b", "v", None, 0.0),
...             TradeRecord("X", "SELL", 10, 90.0, 30 * day, "s", "v", -100.0, 0.0)])
>>> v = check.check(40 * day, ("X",), np.array([5.0]), np.array([91.0]))
>>> v[0].action, v[0].approved, v[0].reason[:38]
('reject', 0.0, 'wash sale: buying would wash a loss re')
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np

from tftrade.compliance.errors import TaxLotError
from tftrade.compliance.ledger import TaxLedger
from tftrade.compliance.money import ZERO
from tftrade.compliance.transactions import Transaction
from tftrade.compliance.wash_rule import ProposedOrder, WashSaleRule
from tftrade.core.orders import TradeRecord
from tftrade.core.types import Float64Array
from tftrade.execution.lots import exact
from tftrade.trading.loop import CheckVerdict

_NY = ZoneInfo("America/New_York")
_WINDOW = timedelta(days=30)


def trade_date(timestamp_ns: int) -> date:
    """The New York trade date of an epoch-ns time.

    >>> trade_date(1_704_164_400 * 10**9)  # 2024-01-02 03:00 UTC = 2024-01-01 22:00 in New York
    datetime.date(2024, 1, 1)
    """
    return datetime.fromtimestamp(timestamp_ns / 1e9, UTC).astimezone(_NY).date()


class WashSaleCheck:
    """The wash-sale rule after the gate (see the module docstring).

    Parameters
    ----------
    mode
        ``"block"`` or ``"resize"``.
    account
        The account name in the tax ledgers.
    max_disallowed
        Loss (dollars) an order may wash before the rule acts (default 0).
    """

    def __init__(self, mode: Literal["block", "resize"], account: str = "tftrade",
                 max_disallowed: Decimal = ZERO) -> None:
        if mode not in ("block", "resize"):
            raise TaxLotError(f"wash-sale check mode {mode!r} is not block or resize (or off: no check)")
        self.mode, self.account, self.max_disallowed = mode, account, max_disallowed
        self.ledgers: dict[str, TaxLedger] = {}
        self._loss_sale: dict[str, date] = {}
        self._bought: dict[str, date] = {}
        self.checked = 0
        """Orders the rule judged (the ones a wash could concern)."""

    def book(self, trades: Sequence[TradeRecord]) -> None:
        """Book long buys and sales in the ticker's ledger; remember the last buy and loss sale."""
        for r in trades:
            if r.action not in ("BUY", "SELL"):
                continue
            day = trade_date(r.timestamp_ns)
            qty = exact(r.exact_quantity if r.exact_quantity is not None else r.quantity)
            if qty <= 0:
                continue
            ledger = self.ledgers.setdefault(r.ticker, TaxLedger())
            if r.action == "SELL":
                qty = min(qty, ledger.position(self.account, r.ticker))
                if qty <= 0:
                    continue
            ledger.book(Transaction(self.account, r.ticker, day, "buy" if r.action == "BUY" else "sell", qty,
                                    exact(r.price), exact(r.commission), r.order_id))
            if r.action == "BUY":
                self._bought[r.ticker] = day
            elif r.pnl is not None and r.pnl < 0:
                self._loss_sale[r.ticker] = day

    def check(self, timestamp_ns: int, tickers: tuple[str, ...], delta: Float64Array,
              prices: Float64Array) -> list[CheckVerdict]:
        """Verdicts for the orders that would wash a loss (the others are not returned)."""
        today = trade_date(timestamp_ns)
        out: list[CheckVerdict] = []
        for i in np.flatnonzero(np.isfinite(delta) & (delta != 0) & np.isfinite(prices) & (prices > 0)).tolist():
            ticker, d = tickers[i], float(delta[i])
            last = self._loss_sale.get(ticker) if d > 0 else self._bought.get(ticker)
            if last is None or today - last > _WINDOW or ticker not in self.ledgers:
                continue
            self.checked += 1
            rule = WashSaleRule(self.ledgers[ticker], self.account, self.mode, self.max_disallowed)
            v = rule.check([ProposedOrder(f"{ticker}@{timestamp_ns}", ticker, exact(d), exact(float(prices[i])))],
                           today)[0]
            if v.action != "accept":
                approved = float(v.approved) if d > 0 else max(float(v.approved), d)
                out.append(CheckVerdict(i, v.action, approved, v.reason))
        return out
