"""Holding periods: long-term means held more than one year (IRC §1222; Pub 550).

The day of acquisition is excluded and the day of sale included, so shares bought on
1 January 2024 are long-term when sold on 2 January 2025 or later. Shares bought on
29 February are long-term from 1 March of the next year.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

Term = Literal["short", "long"]


def one_year_after(d: date) -> date:
    """The anniversary of ``d`` (28 February for a 29 February).

    >>> one_year_after(date(2024, 2, 29))
    datetime.date(2025, 2, 28)
    """
    try:
        return d.replace(year=d.year + 1)
    except ValueError:
        return d.replace(year=d.year + 1, day=28)


def term(acquired: date, sold: date) -> Term:
    """``"long"`` if sold after the anniversary of ``acquired``, else ``"short"``.

    >>> term(date(2024, 1, 1), date(2025, 1, 1)), term(date(2024, 1, 1), date(2025, 1, 2))
    ('short', 'long')
    """
    return "long" if sold > one_year_after(acquired) else "short"


def tacked(purchased: date, old_acquired: date, old_sold: date) -> date:
    """Holding-period start of a wash-sale replacement bought on ``purchased``.

    The replacement's holding period includes the sold shares' (IRC §1223(3)):
    ``purchased - (old_sold - old_acquired)``.
    """
    return purchased - timedelta(days=(old_sold - old_acquired).days)
