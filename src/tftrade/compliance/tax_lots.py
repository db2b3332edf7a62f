"""Tax lots, dispositions and the lot-relief methods (FIFO, LIFO, HIFO, specific id, minimum tax).

A lot's basis is its original cost (price times shares plus the purchase fees) plus any
wash-sale adjustment (disallowed losses of earlier sales, IRC §1091(d)). A disposition is
the part of one sale that came out of one lot: a row of Form 8949.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from tftrade.compliance.holding import Term, term
from tftrade.compliance.money import ZERO, prorata
from tftrade.compliance.transactions import Method


@dataclass(slots=True, eq=False)
class TaxLot:
    """An open lot of a long position.

    ``purchased`` is the day the shares were bought (FIFO order and the wash-sale window use
    it); ``acquired`` starts the holding period (earlier than ``purchased`` for a wash-sale
    replacement, whose holding period includes the sold shares'). ``replacement`` marks shares
    already used once to wash a loss (26 CFR 1.1091-1(e)).
    """

    lot_id: str
    origin: str
    account: str
    ticker: str
    purchased: date
    acquired: date
    quantity: Decimal
    cost: Decimal
    adjustment: Decimal = ZERO
    seq: int = 0
    replacement: bool = False
    pieces: int = field(default=0, repr=False)

    @property
    def basis(self) -> Decimal:
        """Adjusted basis: cost plus wash-sale adjustment."""
        return self.cost + self.adjustment

    def take(self, shares: Decimal) -> TaxLot:
        """Split ``shares`` off this lot (cost and adjustment pro rata); this lot keeps the rest."""
        cost = prorata(self.cost, shares, self.quantity)
        adjustment = prorata(self.adjustment, shares, self.quantity)
        self.pieces += 1
        piece = TaxLot(f"{self.origin}.{self.pieces}" if shares != self.quantity else self.lot_id, self.origin,
                       self.account, self.ticker, self.purchased, self.acquired, shares, cost, adjustment,
                       self.seq, self.replacement)
        self.quantity -= shares
        self.cost -= cost
        self.adjustment -= adjustment
        return piece


@dataclass(slots=True, eq=False)
class Disposition:
    """Shares of one lot sold by one sale: one row of Form 8949.

    ``disallowed`` is the loss disallowed by the wash-sale rule (column (g), positive);
    ``replacements`` the lots that received it.
    """

    account: str
    ticker: str
    quantity: Decimal
    purchased: date
    acquired: date
    sold: date
    proceeds: Decimal
    cost: Decimal
    adjustment: Decimal
    lot_id: str
    origin: str
    lot_seq: int
    sale_id: str
    seq: int
    disallowed: Decimal = ZERO
    replacements: list[str] = field(default_factory=list)

    @property
    def basis(self) -> Decimal:
        """Adjusted basis of the shares sold (column (e))."""
        return self.cost + self.adjustment

    @property
    def loss(self) -> Decimal:
        """The loss before the wash-sale rule (positive), or 0 for a gain."""
        return max(self.basis - self.proceeds, ZERO)

    @property
    def gain(self) -> Decimal:
        """Recognised gain or loss, column (h): proceeds − basis + disallowed."""
        return self.proceeds - self.basis + self.disallowed

    @property
    def term(self) -> Term:
        """Short- or long-term by the (possibly tacked) holding period."""
        return term(self.acquired, self.sold)


def relief_order(lots: Sequence[TaxLot], method: Method, sold: date, net_per_share: Decimal) -> list[TaxLot]:
    """The order in which ``method`` relieves ``lots`` for a sale on ``sold`` at ``net_per_share``.

    ``fifo``/``lifo`` order by purchase; ``hifo`` takes the highest basis per share first;
    ``mintax`` takes long-term losses (largest first), then short-term losses (largest first),
    then long-term gains (smallest first), then short-term gains (smallest first).
    ``specific`` without named lots falls back to FIFO (26 CFR 1.1012-1(c)(1)).
    """
    by_purchase = sorted(lots, key=lambda lot: (lot.purchased, lot.seq, lot.lot_id))
    if method in ("fifo", "specific"):
        return by_purchase
    if method == "lifo":
        return by_purchase[::-1]
    if method == "hifo":
        return sorted(by_purchase, key=lambda lot: -(lot.basis / lot.quantity))

    def mintax_key(lot: TaxLot) -> tuple[int, Decimal]:
        gain = net_per_share - lot.basis / lot.quantity
        long = term(lot.acquired, sold) == "long"
        if gain < 0:
            return (0 if long else 1, gain)
        return (2 if long else 3, gain)

    return sorted(by_purchase, key=mintax_key)
