"""Form 8949 (Sales and Other Dispositions of Capital Assets) and Schedule D totals.

One row per disposition (the shares of one lot sold by one sale). Part I holds short-term
rows, Part II long-term. The box says how the broker reported basis on Form 1099-B:
A/D basis reported to the IRS, B/E not reported, C/F no Form 1099-B. Columns:

(a) description ("100 sh. XYZ"; "100 sh. XYZ (short sale)" for a short sale closed), (b) date
acquired (the holding period's start: earlier than the purchase for a wash-sale replacement;
for a short sale, the day the shares delivered to close it were bought), (c) date sold (for a
short sale, the day it was closed), (d) proceeds, (e) cost or other basis, (f) code (``W`` for
a wash sale), (g) adjustment (the disallowed loss, positive), (h) gain or loss = (d) − (e) + (g).

Amounts are rounded to cents per row, and (h) is computed from the rounded (d), (e), (g),
so every printed row adds up; totals are sums of the printed rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from tftrade.compliance.capital_loss import Carryover, FilingStatus, LossLimit, loss_years, year_nets
from tftrade.compliance.errors import TaxReportError
from tftrade.compliance.money import ZERO, cents, fmt_quantity
from tftrade.compliance.tax_lots import Disposition

Box = Literal["A", "B", "C", "D", "E", "F"]
ShortBox = Literal["A", "B", "C"]
_LONG_BOX: dict[str, Box] = {"A": "D", "B": "E", "C": "F"}
SCHEDULE_D_LINE: dict[str, str] = {"A": "1b", "B": "2", "C": "3", "D": "8b", "E": "9", "F": "10"}


@dataclass(frozen=True, slots=True)
class Row8949:
    """One printed row of Form 8949."""

    box: Box
    description: str
    acquired: date
    sold: date
    proceeds: Decimal
    basis: Decimal
    code: str
    adjustment: Decimal
    gain: Decimal
    account: str
    ticker: str
    quantity: Decimal
    lot_id: str
    sale_id: str
    short_sale: bool = False
    opened: date | None = None
    """The day of the short sale, for a short sale closed ((b) and (c) are the day it was covered)."""

    @property
    def part(self) -> Literal["I", "II"]:
        """Part I (short-term) or Part II (long-term)."""
        return "I" if self.box in ("A", "B", "C") else "II"


@dataclass(frozen=True, slots=True)
class Totals:
    """Column totals (d), (e), (g), (h)."""

    proceeds: Decimal = ZERO
    basis: Decimal = ZERO
    adjustment: Decimal = ZERO
    gain: Decimal = ZERO

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.proceeds + other.proceeds, self.basis + other.basis, self.adjustment + other.adjustment,
                      self.gain + other.gain)


@dataclass(frozen=True, slots=True)
class ScheduleDLine:
    """A line of Schedule D: its number, what it is, its totals."""

    line: str
    label: str
    totals: Totals


@dataclass(frozen=True, slots=True)
class Form8949:
    """Form 8949 rows for a year and the Schedule D lines they feed."""

    year: int
    account: str | None
    method: str
    rows: tuple[Row8949, ...]
    schedule_d: tuple[ScheduleDLine, ...]
    notes: tuple[str, ...] = ()
    loss: LossLimit | None = None
    """The capital-loss limit of the year: carryover in (lines 6, 14), deduction (line 21), carryover out."""

    def part(self, part: Literal["I", "II"]) -> tuple[Row8949, ...]:
        """Rows of one part, by box then date sold."""
        return tuple(r for r in self.rows if r.part == part)

    def box_totals(self) -> dict[str, Totals]:
        """Totals per box (what each page's line 2 shows)."""
        out: dict[str, Totals] = {}
        for r in self.rows:
            out[r.box] = out.get(r.box, Totals()) + Totals(r.proceeds, r.basis, r.adjustment, r.gain)
        return out


def row(d: Disposition, short_box: ShortBox = "A") -> Row8949:
    """The Form 8949 row of one disposition."""
    box: Box = short_box if d.term == "short" else _LONG_BOX[short_box]
    proceeds, basis, adjustment = cents(d.proceeds), cents(d.basis), cents(d.disallowed)
    what = f"{fmt_quantity(d.quantity)} sh. {d.ticker}" + (" (short sale)" if d.short_sale else "")
    return Row8949(box, what, d.acquired, d.sold, proceeds, basis, "W" if d.disallowed > 0 else "", adjustment,
                   proceeds - basis + adjustment, d.account, d.ticker, d.quantity, d.lot_id, d.sale_id, d.short_sale,
                   d.opened)


def form_8949(dispositions: Sequence[Disposition], year: int, *, account: str | None = None,
              short_box: ShortBox = "A", method: str = "fifo", notes: Sequence[str] = (),
              status: FilingStatus = "single", carryover: Carryover | None = None,
              first_year: int | None = None) -> Form8949:
    """Form 8949 and Schedule D for sales in ``year`` (of ``account``, or all).

    The capital-loss carryover into ``year`` is worked out from the earlier years' sales in
    ``dispositions`` (:mod:`~tftrade.compliance.capital_loss`), starting from ``carryover``
    into ``first_year`` (default: the first year with sales); ``status`` sets the limit.

    Raises
    ------
    TaxReportError
        If there is no sale in that year (and account).
    """
    chosen = [d for d in dispositions if d.sold.year == year and (account is None or d.account == account)]
    if not chosen:
        where = f" in account {account}" if account else ""
        raise TaxReportError(f"no sales in {year}{where}: nothing to report on Form 8949")
    rows = sorted((row(d, short_box) for d in chosen), key=lambda r: (r.box, r.sold, r.ticker, r.acquired, r.lot_id))
    loss = loss_years(year_nets(dispositions, account), year, status, carryover, first_year)[year]
    return Form8949(year, account, method, tuple(rows), schedule_d(rows, loss), tuple(notes), loss)


def schedule_d(rows: Sequence[Row8949], loss: LossLimit | None = None) -> tuple[ScheduleDLine, ...]:
    """Schedule D lines 1b, 2, 3, 6 (short-term carryover), 7 (net short-term), 8b, 9, 10, 14 (long-term
    carryover), 15 (net long-term), 16 (total) and, for a net loss, 21 (the loss deducted, at most the limit).

    Lines 6, 14 and 21 carry only column (h); lines 7 and 15 add the carryover to the rows' totals.
    """
    per_box: dict[str, Totals] = {}
    for r in rows:
        per_box[r.box] = per_box.get(r.box, Totals()) + Totals(r.proceeds, r.basis, r.adjustment, r.gain)
    labels = {"A": "Form 8949 box A (short-term, basis reported)", "B": "Form 8949 box B (short-term, basis not "
              "reported)", "C": "Form 8949 box C (short-term, no 1099-B)", "D": "Form 8949 box D (long-term, basis "
              "reported)", "E": "Form 8949 box E (long-term, basis not reported)", "F": "Form 8949 box F (long-term, "
              "no 1099-B)"}
    carry = loss.carry_in if loss is not None else Carryover()
    out = [ScheduleDLine(SCHEDULE_D_LINE[b], labels[b], per_box.get(b, Totals())) for b in "ABC"]
    short = sum((line.totals for line in out), Totals()) + Totals(gain=-carry.short_term)
    out += [ScheduleDLine("6", "Short-term capital loss carryover from last year", Totals(gain=-carry.short_term)),
            ScheduleDLine("7", "Net short-term capital gain or (loss)", short)]
    long_lines = [ScheduleDLine(SCHEDULE_D_LINE[b], labels[b], per_box.get(b, Totals())) for b in "DEF"]
    long = sum((line.totals for line in long_lines), Totals()) + Totals(gain=-carry.long_term)
    out += [*long_lines,
            ScheduleDLine("14", "Long-term capital loss carryover from last year", Totals(gain=-carry.long_term)),
            ScheduleDLine("15", "Net long-term capital gain or (loss)", long),
            ScheduleDLine("16", "Combine lines 7 and 15", short + long)]
    if loss is not None and loss.deduction > 0:
        out.append(ScheduleDLine("21", f"Loss deducted: smaller of the line 16 loss or ${loss.limit:,.0f}",
                                 Totals(gain=-loss.deduction)))
    return tuple(out)
