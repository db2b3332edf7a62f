"""Exact money: parsing text into ``Decimal`` without ever passing through ``float``.

Internally every amount is a ``Decimal``; pro-rata allocations are rounded half-even at
:data:`ALLOC` (10⁻⁸ dollars) and the remainder stays where it came from, so sums are
conserved exactly. Forms round to cents only when they print.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

ZERO = Decimal(0)
CENT = Decimal("0.01")
ALLOC = Decimal("1E-8")
_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)


def parse_decimal(value: object, field: str) -> Decimal:
    """Return ``value`` as a finite ``Decimal``; floats are refused (they are not exact).

    >>> parse_decimal("12.50", "price"), parse_decimal(3, "quantity")
    (Decimal('12.50'), Decimal('3'))

    Raises
    ------
    ValueError
        If ``value`` is a float, empty, not a number or not finite; the message names ``field``.
    """
    if isinstance(value, float):
        raise ValueError(f"{field} {value!r} is a float; pass a Decimal, int or string (money is exact)")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", "").replace("$", "")
        if not text:
            raise ValueError(f"{field} is empty")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{field} {value!r} is not a number") from None
    else:
        raise ValueError(f"{field} {value!r} is not a number")
    if not result.is_finite():
        raise ValueError(f"{field} {value!r} is not finite")
    return result


def prorata(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """``amount * part / whole`` rounded half-even to :data:`ALLOC`; exactly ``amount`` when ``part == whole``."""
    if part == whole:
        return amount
    return _CTX.divide(_CTX.multiply(amount, part), whole).quantize(ALLOC, rounding=ROUND_HALF_EVEN)


def mul(a: Decimal, b: Decimal) -> Decimal:
    """``a * b`` exactly (60 significant digits)."""
    return _CTX.multiply(a, b)


def cents(amount: Decimal) -> Decimal:
    """``amount`` rounded half-even to cents (what the forms print)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def fmt_quantity(q: Decimal) -> str:
    """A share count without trailing zeros (``Decimal('100.000')`` → ``'100'``)."""
    text = format(q.normalize(), "f")
    return text
