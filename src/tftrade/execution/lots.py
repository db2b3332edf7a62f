r"""FIFO tax lots per ticker, long and short, with exact money in integer units.

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

Floats coming in are taken by their shortest ``repr`` (``0.1`` is exactly ``Decimal('0.1')``).

Exactness
---------
Internally quantities and prices are Python integers of :math:`10^{-24}` (shares or dollars)
and money (costs, commissions, P&L) integers of :math:`10^{-48}` dollars, so sums and
products are exact and fast (no ``Decimal`` in the hot path). Every float whose shortest repr
has at most 24 decimals — every quantity or price above about :math:`10^{-7}` in size — is
represented exactly; smaller digits are rounded half-even at :math:`10^{-24}`. The only
inexact operation is the pro-rata split of a lot's cost or of a commission, rounded to
:math:`10^{-48}` dollars, and the rounding stays in the lot (or in the other part of the
commission), so the identity above holds exactly. The public accessors return ``Decimal``.

Examples
--------
>>> from tftrade.core.orders import Fill
>>> book = LotBook()
>>> book.apply(Fill("a", "X", 10, 100.0, 1.0, 0)), book.apply(Fill("b", "X", -4, 110.0, 1.0, 1))
(0.0, 38.6)
>>> book.position("X"), [(float(lot.quantity), float(lot.cost)) for lot in book.lots("X")]
(6.0, [(6.0, 600.6)])
>>> book.lots("X")[0].cost
Decimal('600.6')
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tftrade.core.orders import Fill

_ZERO = Decimal(0)
DIGITS = 24  #: decimals of a quantity or price unit
UNIT: int = 10**DIGITS  #: one share (or dollar) in quantity/price units
_MONEY_UNIT: int = UNIT * UNIT  # one dollar in money units (quantity unit x price unit)
_POW10: tuple[int, ...] = tuple(10**k for k in range(DIGITS + 1))
_FAST_LIMIT = 2**52


def exact(x: float | int | Decimal) -> Decimal:
    """A float as the Decimal of its shortest repr (``exact(0.1) == Decimal('0.1')``)."""
    return x if isinstance(x, Decimal) else Decimal(repr(float(x))) if isinstance(x, float) else Decimal(x)


def to_units(x: float | int | Decimal) -> int:
    """``x`` (by its shortest repr) in integer units of ``10**-24``, exact for up to 24 decimals.

    >>> to_units(0.1) == 10**23, to_units(3) == 3 * 10**24, to_units(-2.5e-5) == -25 * 10**18
    (True, True, True)
    """
    if type(x) is float:
        if -_FAST_LIMIT < x < _FAST_LIMIT:
            n = round(x * 1e6)  # exact when x has <= 6 decimals: then n / 1e6 rounds back to x
            if n / 1e6 == x and -_FAST_LIMIT < n < _FAST_LIMIT:
                return n * _POW10[DIGITS - 6]
            s = repr(x)
            if "e" not in s:
                decimals = len(s) - s.index(".") - 1
                if decimals <= DIGITS:
                    return int(s.replace(".", "")) * _POW10[DIGITS - decimals]
        return _decimal_units(Decimal(repr(x)))
    if isinstance(x, int):
        return int(x) * UNIT
    if isinstance(x, Decimal):
        return _decimal_units(x)
    return to_units(float(x))  # numpy scalars and other reals


def _decimal_units(d: Decimal) -> int:
    if not d.is_finite():
        raise ValueError(f"cannot book a non-finite amount {d}")
    sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(map(str, digits)) or "0")
    shift = exponent + DIGITS
    scale: int = 10 ** abs(shift)
    value = mantissa * scale if shift >= 0 else _div(mantissa, scale)  # rounded half-even
    return -value if sign else value


def _div(a: int, b: int) -> int:
    """``a / b`` rounded half-even to an integer (``b > 0``)."""
    q, r = divmod(a, b)
    twice = 2 * r
    if twice > b or (twice == b and q & 1):
        q += 1
    return q


def _as_decimal(n: int, digits: int) -> Decimal:
    """The exact Decimal ``n * 10**-digits``, without trailing zeros."""
    if n == 0:
        return _ZERO
    text = str(abs(n))
    stripped = text.rstrip("0")
    zeros = min(len(text) - len(stripped), digits)
    return Decimal((1 if n < 0 else 0, tuple(map(int, text[: len(text) - zeros])), zeros - digits))


def money_to_float(n: int) -> float:
    """Money units (``10**-48`` dollars) as the nearest float."""
    return n / _MONEY_UNIT


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
    """FIFO lots per ticker; realised P&L exact (see the module docstring for the units)."""

    def __init__(self) -> None:
        # per ticker: lots oldest first, each [quantity units, cost money units, opened_ns, order_id,
        # the float quantity of the fill that opened it whole, else None]
        self._lots: dict[str, deque[list[Any]]] = {}
        self._realised = 0  # money units

    @property
    def realised_exact(self) -> Decimal:
        """Realised P&L of every fill so far, commissions included, as an exact Decimal."""
        return _as_decimal(self._realised, 2 * DIGITS)

    @property
    def realised_total(self) -> float:
        """Realised P&L of every fill so far, commissions included."""
        return money_to_float(self._realised)

    def apply(self, fill: Fill) -> float:
        """Book ``fill``; return the P&L it realises (0 for a purely opening fill)."""
        return money_to_float(self.book(fill.ticker, to_units(fill.quantity), to_units(fill.price),
                                        to_units(fill.commission) * UNIT, fill.timestamp_ns,
                                        fill.client_order_id)[2])

    def apply_detailed(self, fill: Fill) -> LotChange:
        """Book ``fill`` and report what it closed, opened and realised."""
        closed, opened, realised, closing, opening = self.book(
            fill.ticker, to_units(fill.quantity), to_units(fill.price), to_units(fill.commission) * UNIT,
            fill.timestamp_ns, fill.client_order_id)
        money = 2 * DIGITS
        return LotChange(_as_decimal(closed, DIGITS), _as_decimal(opened, DIGITS), _as_decimal(realised, money),
                         _as_decimal(closing, money), _as_decimal(opening, money))

    def book_fill(self, ticker: str, quantity: float, price: float, commission: float, timestamp_ns: int,
                  order_id: str) -> tuple[int, int, int, int, int]:
        """:meth:`book` taking the fill's floats (what :meth:`apply` does, without building a ``Fill``).

        A fill that closes a ticker's only lot by exactly its opening quantity re-uses that lot's
        units instead of converting the float again (the common whole exit).
        """
        lots = self._lots.get(ticker)
        whole_exit = lots is not None and len(lots) == 1 and lots[0][4] == -quantity
        qty = -lots[0][0] if whole_exit and lots is not None else to_units(quantity)
        return self.book(ticker, qty, to_units(price), to_units(commission) * UNIT if commission else 0,
                         timestamp_ns, order_id, quantity)

    def book(self, ticker: str, qty: int, price: int, commission: int, timestamp_ns: int,
             order_id: str, quantity: float | None = None) -> tuple[int, int, int, int, int]:
        """Book one fill given in integer units (``qty``, ``price``: ``10**-24``; ``commission``: ``10**-48``).

        Returns ``(closed, opened, realised, closing_commission, opening_commission)`` in the same
        units (quantities signed as the fill). ``quantity`` is the fill's float quantity, if known
        (remembered by a lot it opens whole). The fast path under :meth:`apply`.
        """
        lots = self._lots.get(ticker)
        if lots is None:  # nothing held: the whole fill opens a lot
            self._lots[ticker] = deque(([qty, qty * price + commission, timestamp_ns, order_id, quantity],))
            return 0, qty, 0, 0, commission
        left, realised, closing = qty, 0, 0
        abs_qty = qty if qty > 0 else -qty
        while lots and left and ((lots[0][0] > 0) is not (left > 0)):
            lot = lots[0]
            held: int = lot[0]
            cost: int = lot[1]
            if (left if left > 0 else -left) >= (held if held > 0 else -held):  # closes the whole lot
                m, released = held, cost
                lots.popleft()
            else:
                m = -left
                released = _div(cost * m, held) if held > 0 else _div(-cost * m, -held)
                lot[0], lot[1], lot[4] = held - m, cost - released, None
            part = commission if m == -qty else _div(commission * (m if m > 0 else -m), abs_qty)
            realised += m * price - part - released
            closing += part
            left += m
        opening = commission - closing
        if left:
            lots.append([left, left * price + opening, timestamp_ns, order_id, quantity if left == qty else None])
        if not lots:
            del self._lots[ticker]
        self._realised += realised
        return qty - left, left, realised, closing, opening

    def position(self, ticker: str) -> float:
        """Signed shares held in ``ticker``."""
        total: int = sum(lot[0] for lot in self._lots.get(ticker, ()))
        return total / UNIT

    def position_exact(self, ticker: str) -> Decimal:
        """Signed shares held in ``ticker`` as a Decimal."""
        return _as_decimal(sum(lot[0] for lot in self._lots.get(ticker, ())), DIGITS)

    def positions(self) -> dict[str, float]:
        """Signed shares per ticker (non-zero only)."""
        return {t: self.position(t) for t in self._lots}

    def lots(self, ticker: str) -> list[Lot]:
        """Open lots of ``ticker``, oldest first."""
        return [Lot(ticker, _as_decimal(q, DIGITS), _as_decimal(c, 2 * DIGITS), ts, oid)
                for q, c, ts, oid, _ in self._lots.get(ticker, ())]

    def unrealised(self, ticker: str, price: float | Decimal) -> Decimal:
        """Unrealised P&L of the open lots at ``price``: ``sum(q * price - cost)``."""
        p = to_units(price)
        total = sum(q * p - c for q, c, *_ in self._lots.get(ticker, ()))
        return _as_decimal(total, 2 * DIGITS)
