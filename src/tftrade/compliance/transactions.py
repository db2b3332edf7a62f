"""What the tax-lot engine books: purchases and sales of shares, short sales and covers, and stock splits.

Money and quantities are exact ``Decimal``; a float is refused at the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal, get_args

from tftrade.compliance.errors import TaxLotError
from tftrade.compliance.money import ZERO, parse_decimal

Side = Literal["buy", "sell", "short", "cover"]
SIDES: tuple[Side, ...] = get_args(Side)
SIDE_OF_ACTION: dict[str, Side] = {"BUY": "buy", "SELL": "sell", "SHORT": "short", "COVER": "cover"}
"""A trade record's action (``trade_executions.action``) as a transaction's side."""
AccountType = Literal["taxable", "ira"]
ACCOUNT_TYPES: tuple[AccountType, ...] = get_args(AccountType)
Method = Literal["fifo", "lifo", "hifo", "specific", "mintax"]
METHODS: tuple[Method, ...] = get_args(Method)


@dataclass(frozen=True, slots=True)
class Transaction:
    """One fill: ``quantity`` shares (positive) at ``price``, ``fees`` paid.

    ``buy``/``sell`` open and close long lots; ``short`` (a short sale) opens a short lot and
    ``cover`` (a purchase that closes the short sale) closes it.

    ``lots`` names, for a sale under specific identification, which purchases (by their
    ``txn_id``) the shares come from and how many: ``(("b1", Decimal(50)), ...)``.

    Raises
    ------
    TaxLotError
        If a field is missing or out of range; the message names the transaction and the field.
    """

    account: str
    ticker: str
    trade_date: date
    side: Side
    quantity: Decimal
    price: Decimal
    fees: Decimal = ZERO
    txn_id: str = ""
    lots: tuple[tuple[str, Decimal], ...] = field(default=())

    def __post_init__(self) -> None:
        name = self.txn_id or f"{self.side} {self.ticker} {self.trade_date}"
        try:
            for attr in ("quantity", "price", "fees"):
                object.__setattr__(self, attr, parse_decimal(getattr(self, attr), attr))
            object.__setattr__(self, "lots", tuple((str(i), parse_decimal(q, f"shares of lot {i}"))
                                                   for i, q in self.lots))
        except ValueError as e:
            raise TaxLotError(f"transaction {name}: {e}") from None
        if not self.ticker or not self.account:
            raise TaxLotError(f"transaction {name}: ticker and account are required")
        if self.side not in SIDES:
            raise TaxLotError(f"transaction {name}: side {self.side!r} is not one of {', '.join(SIDES)}")
        if self.quantity <= 0:
            raise TaxLotError(f"transaction {name}: quantity {self.quantity} must be positive")
        if self.price < 0 or self.fees < 0:
            raise TaxLotError(f"transaction {name}: price and fees must not be negative")
        if self.lots and self.side != "sell":
            raise TaxLotError(f"transaction {name}: only a sale can name lots")
        if self.lots and sum((q for _, q in self.lots), ZERO) != self.quantity:
            raise TaxLotError(f"transaction {name}: the named lots add up to "
                              f"{sum((q for _, q in self.lots), ZERO)} shares, not {self.quantity}")

    @property
    def gross(self) -> Decimal:
        """``quantity * price``."""
        return self.quantity * self.price


@dataclass(frozen=True, slots=True)
class Split:
    """A stock split of ``ticker`` effective on ``effective`` (before that day's trades).

    ``ratio`` is new shares per old share: 2 for a 2-for-1 split, ``0.1`` for a 1-for-10 reverse split.

    Raises
    ------
    TaxLotError
        If the ratio is not a positive number.
    """

    ticker: str
    effective: date
    ratio: Decimal

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "ratio", parse_decimal(self.ratio, "ratio"))
        except ValueError as e:
            raise TaxLotError(f"split of {self.ticker} on {self.effective}: {e}") from None
        if self.ratio <= 0:
            raise TaxLotError(f"split of {self.ticker} on {self.effective}: ratio {self.ratio} must be positive")
