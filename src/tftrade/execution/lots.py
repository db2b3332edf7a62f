r"""FIFO tax lots per ticker, long and short, with exact (``Decimal``) money.

Each open lot holds a signed quantity :math:`q` and its signed cost :math:`C` (cash paid to
open it: :math:`C = q\,p + c` for opening commission :math:`c`, so a short lot's cost is
negative — the proceeds received). A fill against lots of the opposite sign closes them
oldest first; closing :math:`m` shares of a lot (same sign as the lot) realises

.. math::

    \text{pnl} = m\,p' - c'_m - C\,m/q

where :math:`p'` is the closing price and :math:`c'_m` the closing commission's share
(pro rata to shares). What a fill does not close opens a new lot with the rest of its
commission. Opening commissions are therefore part of the cost basis and closing ones
reduce the proceeds; every cent of cash is accounted: after any fills,

.. math::

    \text{realised} + \sum_\text{lots}(q\,P - C) = \sum_\text{fills}(-q\,p - c) + \text{position}\cdot P .

Floats coming in are converted by their shortest ``repr`` (``0.1`` is exactly ``Decimal('0.1')``).

Examples
--------
>>> from tftrade.core.orders import Fill
>>> book = LotBook()
>>> book.apply(Fill("a", "X", 10, 100.0, 1.0, 0)), book.apply(Fill("b", "X", -4, 110.0, 1.0, 1))
(0.0, 38.6)
>>> book.position("X"), [(float(lot.quantity), float(lot.cost)) for lot in book.lots("X")]
(6.0, [(6.0, 600.6)])
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from tftrade.core.orders import Fill

_ZERO = Decimal(0)


def exact(x: float | int | Decimal) -> Decimal:
    """A float as the Decimal of its shortest repr (``exact(0.1) == Decimal('0.1')``)."""
    return x if isinstance(x, Decimal) else Decimal(repr(x)) if isinstance(x, float) else Decimal(x)


@dataclass(frozen=True, slots=True)
class Lot:
    """An open tax lot: signed ``quantity``, signed ``cost`` (incl. opening commission), when and by which order."""

    ticker: str
    quantity: Decimal
    cost: Decimal
    opened_ns: int
    order_id: str

    @property
    def basis_per_share(self) -> Decimal:
        """Cost per share including the opening commission (positive for long and short lots)."""
        return self.cost / self.quantity


@dataclass(frozen=True, slots=True)
class LotChange:
    """What one fill did: shares closed and opened (signed, as the fill) and the realised P&L."""

    closed: Decimal
    opened: Decimal
    realised: Decimal
    closing_commission: Decimal
    opening_commission: Decimal


class LotBook:
    """FIFO lots per ticker; realised P&L exact to the cent (in fact to ``Decimal`` precision)."""

    def __init__(self) -> None:
        self._lots: dict[str, deque[Lot]] = {}
        self.realised_exact: Decimal = _ZERO

    @property
    def realised_total(self) -> float:
        """Realised P&L of every fill so far, commissions included."""
        return float(self.realised_exact)

    def apply(self, fill: Fill) -> float:
        """Book ``fill``; return the P&L it realises (0 for a purely opening fill)."""
        return float(self.apply_detailed(fill).realised)

    def apply_detailed(self, fill: Fill) -> LotChange:
        """Book ``fill`` and report what it closed, opened and realised."""
        qty, price, commission = exact(fill.quantity), exact(fill.price), exact(fill.commission)
        lots = self._lots.setdefault(fill.ticker, deque())
        left, realised, closing_commission = qty, _ZERO, _ZERO
        while lots and left != 0 and (lots[0].quantity > 0) != (left > 0):
            lot = lots[0]
            m = -left if abs(left) < abs(lot.quantity) else lot.quantity  # shares of the lot closed (lot's sign)
            part = commission * abs(m) / abs(qty)
            released = lot.cost if m == lot.quantity else lot.cost * m / lot.quantity
            realised += m * price - part - released
            closing_commission += part
            if m == lot.quantity:
                lots.popleft()
            else:
                lots[0] = Lot(lot.ticker, lot.quantity - m, lot.cost - released, lot.opened_ns, lot.order_id)
            left += m
        opening_commission = commission - closing_commission
        if left != 0:
            lots.append(Lot(fill.ticker, left, left * price + opening_commission, fill.timestamp_ns,
                            fill.client_order_id))
        if not lots:
            del self._lots[fill.ticker]
        self.realised_exact += realised
        return LotChange(qty - left, left, realised, closing_commission, opening_commission)

    def position(self, ticker: str) -> float:
        """Signed shares held in ``ticker``."""
        return float(self.position_exact(ticker))

    def position_exact(self, ticker: str) -> Decimal:
        """Signed shares held in ``ticker`` as a Decimal."""
        return sum((lot.quantity for lot in self._lots.get(ticker, ())), _ZERO)

    def positions(self) -> dict[str, float]:
        """Signed shares per ticker (non-zero only)."""
        return {t: float(self.position_exact(t)) for t in self._lots}

    def lots(self, ticker: str) -> list[Lot]:
        """Open lots of ``ticker``, oldest first."""
        return list(self._lots.get(ticker, ()))

    def unrealised(self, ticker: str, price: float | Decimal) -> Decimal:
        """Unrealised P&L of the open lots at ``price``: ``sum(q * price - cost)``."""
        p = exact(price)
        return sum((lot.quantity * p - lot.cost for lot in self._lots.get(ticker, ())), _ZERO)
