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
    suspended_by: str = ""
    """A short sale (its lot origin) whose closing starts this lot's holding period (IRC §1233(b)(2))."""

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
                       self.seq, self.replacement, suspended_by=self.suspended_by)
        self.quantity -= shares
        self.cost -= cost
        self.adjustment -= adjustment
        return piece


@dataclass(slots=True, eq=False)
class ShortLot:
    """An open short sale: ``quantity`` shares sold short on ``opened`` for net ``proceeds``.

    ``adjustment`` is the loss of an earlier cover disallowed by the wash-sale rule; it is added
    to the cost of closing this one. ``long_term_loss`` marks shares sold short while
    substantially identical stock had been held for more than a year: a loss on closing them is
    long-term (IRC §1233(d)).
    """

    lot_id: str
    origin: str
    account: str
    ticker: str
    opened: date
    quantity: Decimal
    proceeds: Decimal
    adjustment: Decimal = ZERO
    seq: int = 0
    replacement: bool = False
    long_term_loss: bool = False
    pieces: int = field(default=0, repr=False)

    def take(self, shares: Decimal) -> ShortLot:
        """Split ``shares`` off this short lot (proceeds and adjustment pro rata); this lot keeps the rest."""
        proceeds = prorata(self.proceeds, shares, self.quantity)
        adjustment = prorata(self.adjustment, shares, self.quantity)
        self.pieces += 1
        piece = ShortLot(f"{self.origin}.{self.pieces}" if shares != self.quantity else self.lot_id, self.origin,
                         self.account, self.ticker, self.opened, shares, proceeds, adjustment, self.seq,
                         self.replacement, self.long_term_loss)
        self.quantity -= shares
        self.proceeds -= proceeds
        self.adjustment -= adjustment
        return piece


@dataclass(slots=True, eq=False)
class Disposition:
    """Shares of one lot sold by one sale (or one short sale closed by a cover): one row of Form 8949.

    ``disallowed`` is the loss disallowed by the wash-sale rule (column (g), positive);
    ``replacements`` the lots that received it. For a short sale, ``proceeds`` are the short
    sale's and ``cost`` the cover's.
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
    permanent: Decimal = ZERO
    """The part of ``disallowed`` lost for good: washed by a purchase in an IRA (Rev. Rul. 2008-5)."""
    short_sale: bool = False
    """Closes a short sale (``purchased``/``acquired``/``sold`` are then the day it was covered)."""
    opened: date | None = None
    """The day of the short sale, for a cover."""
    holding: Term | None = None
    """The holding period where a special rule sets it (IRC §1233: short sales)."""

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
        """Short- or long-term by the (possibly tacked) holding period, or as a special rule sets it."""
        return self.holding or term(self.acquired, self.sold)


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
