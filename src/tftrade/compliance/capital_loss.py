r"""The capital-loss limit and its carryover (IRC §1211(b), §1212(b); Schedule D and its instructions).

A net capital loss (Schedule D line 16) offsets ordinary income up to $3,000 a year ($1,500
married filing separately), line 21. The rest is carried to the next year with its character:
the Capital Loss Carryover Worksheet of the Schedule D instructions, which comes first out of
the short-term loss (lines 5–8), then out of the long-term loss (lines 9–13):

.. math::

    d &= \min(-\text{line 16},\ \text{limit}) \quad (\text{line 21, the deduction; line 4 of the worksheet}) \\
    C_S &= \max\big(S^- - (d + L^+),\ 0\big) \\
    C_L &= \max\big(L^- - (S^+ + \max(d - S^-, 0)),\ 0\big)

with :math:`S^-`, :math:`L^-` the net short- and long-term losses (positive; 0 for a gain) and
:math:`S^+`, :math:`L^+` the net gains, each net of the carryover received (lines 6 and 14).
The worksheet's line 1 (taxable income) is taken to be at least zero before the deduction —
a taxpayer with enough ordinary income, which the deduction then fully uses.

Examples
--------
A net short-term loss of $10,000: $3,000 deducted, $7,000 carried as short-term.

>>> r = limit_losses(Decimal(-10000), Decimal(0), Carryover())
>>> r.deduction, r.carry_out.short_term, r.carry_out.long_term
(Decimal('3000.00'), Decimal('7000.00'), Decimal('0'))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, get_args

from tftrade.compliance.errors import TaxReportError
from tftrade.compliance.money import ZERO, cents
from tftrade.compliance.tax_lots import Disposition

FilingStatus = Literal["single", "mfj", "mfs", "hoh", "qss"]
FILING_STATUSES: tuple[FilingStatus, ...] = get_args(FilingStatus)
LIMIT = Decimal("3000.00")
LIMIT_MFS = Decimal("1500.00")


def loss_limit(status: FilingStatus = "single") -> Decimal:
    """The yearly limit of capital loss deducted from ordinary income: $1,500 married filing separately, else $3,000.

    Raises
    ------
    TaxReportError
        For an unknown filing status.
    """
    if status not in FILING_STATUSES:
        raise TaxReportError(f"filing status {status!r} is not one of {', '.join(FILING_STATUSES)}")
    return LIMIT_MFS if status == "mfs" else LIMIT


@dataclass(frozen=True, slots=True)
class Carryover:
    """Capital losses carried into a year, by character (positive amounts)."""

    short_term: Decimal = ZERO
    long_term: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.short_term < 0 or self.long_term < 0:
            raise TaxReportError(f"a capital loss carryover is a positive amount, not {self.short_term} short-term "
                                 f"and {self.long_term} long-term")

    @property
    def total(self) -> Decimal:
        """Short- plus long-term."""
        return self.short_term + self.long_term


@dataclass(frozen=True, slots=True)
class LossLimit:
    """One year's Schedule D lines 6, 7, 14, 15, 16, 21 and the carryover to the next year."""

    carry_in: Carryover
    net_short: Decimal
    net_long: Decimal
    deduction: Decimal
    carry_out: Carryover
    limit: Decimal

    @property
    def total(self) -> Decimal:
        """Line 16: lines 7 and 15 combined."""
        return self.net_short + self.net_long

    def worksheet(self) -> dict[str, Decimal]:
        """The Capital Loss Carryover Worksheet's lines 2–13 for this year (as next year's instructions number them)."""
        s_loss, l_loss = max(-self.net_short, ZERO), max(-self.net_long, ZERO)
        d = self.deduction
        out = {"2": d, "3": d, "4": d}
        if s_loss > 0:
            out |= {"5": s_loss, "6": max(self.net_long, ZERO), "7": d + max(self.net_long, ZERO),
                    "8": self.carry_out.short_term}
        if l_loss > 0:
            eleven = max(d - s_loss, ZERO)
            out |= {"9": l_loss, "10": max(self.net_short, ZERO), "11": eleven,
                    "12": max(self.net_short, ZERO) + eleven, "13": self.carry_out.long_term}
        return out


def limit_losses(short_term: Decimal, long_term: Decimal, carry_in: Carryover,
                 status: FilingStatus = "single") -> LossLimit:
    """Apply the limit to a year's net gains (before carryovers) and the carryover received (module docstring)."""
    limit = loss_limit(status)
    s = short_term - carry_in.short_term  # line 7 (line 6 is the short-term carryover, a loss)
    lt = long_term - carry_in.long_term  # line 15 (line 14)
    total = s + lt
    d = min(-total, limit) if total < 0 else ZERO
    s_loss, l_loss = max(-s, ZERO), max(-lt, ZERO)
    carry_s = max(s_loss - (d + max(lt, ZERO)), ZERO) if s_loss > 0 else ZERO
    carry_l = max(l_loss - (max(s, ZERO) + max(d - s_loss, ZERO)), ZERO) if l_loss > 0 else ZERO
    return LossLimit(carry_in, s, lt, d, Carryover(carry_s, carry_l), limit)


def year_nets(dispositions: Sequence[Disposition], account: str | None = None) -> dict[int, tuple[Decimal, Decimal]]:
    """Net short- and long-term gain per year of sale, as Form 8949 prints them (column (h) of rows in cents)."""
    out: dict[int, tuple[Decimal, Decimal]] = {}
    for d in dispositions:
        if account is not None and d.account != account:
            continue
        gain = cents(d.proceeds) - cents(d.basis) + cents(d.disallowed)
        s, lt = out.get(d.sold.year, (ZERO, ZERO))
        out[d.sold.year] = (s + gain, lt) if d.term == "short" else (s, lt + gain)
    return out


def loss_years(nets: Mapping[int, tuple[Decimal, Decimal]], through: int, status: FilingStatus = "single",
               start: Carryover | None = None, first: int | None = None) -> dict[int, LossLimit]:
    """Every year from the first with sales (or ``first``) through ``through``, carryovers chained.

    A year without sales still uses its carryover (up to the limit). ``start`` is a carryover
    into the first year from before the history (e.g. the last return filed elsewhere).
    """
    begin = min([*nets, *([first] if first is not None else [])], default=through)
    carry = start or Carryover()
    out: dict[int, LossLimit] = {}
    for year in range(begin, through + 1):
        s, lt = nets.get(year, (ZERO, ZERO))
        out[year] = res = limit_losses(s, lt, carry, status)
        carry = res.carry_out
    return out
