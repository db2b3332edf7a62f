"""An optional pre-trade wash-sale rule: block or resize orders that would wash a loss.

Run after the risk gate (which it does not change): for each proposed order it books the
order on a copy of the tax ledger and measures the loss the wash-sale rule would newly
disallow —

- a **buy** within 30 days after a sale at a loss (the purchase would wash that loss);
- a **sale at a loss** within 30 days after a buy of the same security (the earlier
  purchase would wash it).

With ``mode="block"`` such an order is rejected; with ``mode="resize"`` it is cut to the
largest size whose newly disallowed loss stays within ``max_disallowed`` (whole shares),
and rejected if that is zero. The reason names the loss and the trade that would wash it.

Hook: the trading loop (or any caller) builds a :class:`WashSaleRule` from the account's
:class:`~tftrade.compliance.ledger.TaxLedger`, calls :meth:`WashSaleRule.check` with the
gate-approved orders, and trades ``min(gate approved, rule approved)``; pass an
:class:`~tftrade.compliance.audit_log.AuditSink` to record each non-trivial verdict.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from tftrade.compliance.audit_log import AuditSink
from tftrade.compliance.errors import TaxLotError
from tftrade.compliance.ledger import TaxLedger
from tftrade.compliance.money import ZERO, cents
from tftrade.compliance.transactions import Side, Transaction

WashAction = Literal["accept", "resize", "reject"]


@dataclass(frozen=True, slots=True)
class ProposedOrder:
    """An order the gate approved: signed whole shares (``> 0`` buy) at an expected price."""

    order_id: str
    ticker: str
    shares: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class WashVerdict:
    """The rule's verdict on one order."""

    order_id: str
    ticker: str
    requested: Decimal
    approved: Decimal
    action: WashAction
    disallowed_if_traded: Decimal
    reason: str


class WashSaleRule:
    """Pre-trade wash-sale check on one account (see the module docstring).

    Parameters
    ----------
    ledger
        The taxpayer's ledger up to now (all accounts: wash sales cross accounts).
    account
        The account the orders trade in.
    mode
        ``"block"`` or ``"resize"``.
    max_disallowed
        Loss (dollars) an order may wash before it is resized or blocked (default 0).
    """

    def __init__(self, ledger: TaxLedger, account: str, mode: Literal["block", "resize"] = "block",
                 max_disallowed: Decimal = ZERO) -> None:
        if mode not in ("block", "resize"):
            raise TaxLotError(f"wash-sale rule mode {mode!r} is not block or resize")
        self.ledger, self.account, self.mode, self.max_disallowed = ledger, account, mode, max_disallowed

    def check(self, orders: Sequence[ProposedOrder], today: date, sink: AuditSink | None = None) -> list[WashVerdict]:
        """Verdicts for ``orders`` (in order; each is judged after the ones before it are booked)."""
        ledger = copy.deepcopy(self.ledger)
        out = []
        for order in orders:
            verdict = self._one(ledger, order, today)
            out.append(verdict)
            booked = self._long_part(ledger, order.ticker, verdict.approved)
            if booked:
                ledger.book(self._txn(order, booked, today))
            if sink is not None and verdict.action != "accept":
                sink.append("risk_check", {"rule": "wash_sale", "ticker": order.ticker, "action": verdict.action,
                                           "requested": order.shares, "approved": verdict.approved,
                                           "disallowed_if_traded": verdict.disallowed_if_traded,
                                           "reasons": [verdict.reason]}, order_ids=[order.order_id])
        return out

    def _txn(self, order: ProposedOrder, shares: Decimal, today: date) -> Transaction:
        side: Side = "buy" if shares > 0 else "sell"
        return Transaction(self.account, order.ticker, today, side, abs(shares), order.price, ZERO,
                           f"proposed:{order.order_id}")

    def _washed(self, ledger: TaxLedger, order: ProposedOrder, shares: Decimal, today: date) -> Decimal:
        """Loss newly disallowed if ``shares`` of the order trade (on a copy of ``ledger``)."""
        trial = copy.deepcopy(ledger)
        before = sum((d.disallowed for d in trial.dispositions()), ZERO)
        trial.book(self._txn(order, shares, today))
        return sum((d.disallowed for d in trial.dispositions()), ZERO) - before

    def _long_part(self, ledger: TaxLedger, ticker: str, shares: Decimal) -> Decimal:
        """The part of an order the long-only tax lots book (a sale beyond the position opens a short)."""
        return max(shares, -ledger.position(self.account, ticker)) if shares < 0 else shares

    def _one(self, ledger: TaxLedger, order: ProposedOrder, today: date) -> WashVerdict:
        long_part = self._long_part(ledger, order.ticker, order.shares)
        if long_part == 0:  # nothing to book: no position to sell (a short sale is outside the tax lots)
            return WashVerdict(order.order_id, order.ticker, order.shares, order.shares, "accept", ZERO, "")
        washed = self._washed(ledger, order, long_part, today)
        if washed <= self.max_disallowed:
            return WashVerdict(order.order_id, order.ticker, order.shares, order.shares, "accept", washed, "")
        what = ("buying would wash a loss realised in the last 30 days" if order.shares > 0
                else "selling at a loss within 30 days of a purchase would have the loss washed")
        approved = self._largest(ledger, order, long_part, today) if self.mode == "resize" else ZERO
        action: WashAction = "resize" if approved else "reject"
        reason = (f"wash sale: {what}; {cents(washed)} of loss would be disallowed"
                  + (f"; resized to {approved} shares" if approved else ""))
        return WashVerdict(order.order_id, order.ticker, order.shares, approved, action, washed, reason)

    def _largest(self, ledger: TaxLedger, order: ProposedOrder, long_part: Decimal, today: date) -> Decimal:
        sign = 1 if long_part > 0 else -1
        lo, hi = 0, int(abs(long_part))  # whole shares; lo always acceptable
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._washed(ledger, order, Decimal(sign * mid), today) <= self.max_disallowed:
                lo = mid
            else:
                hi = mid - 1
        return Decimal(sign * lo)
