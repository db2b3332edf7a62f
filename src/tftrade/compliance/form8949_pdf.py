"""Form 8949 as a PDF laid out like the IRS form: header, Part I/II, boxes, columns (a)–(h), line 2.

Each page holds one box's rows (14 per page, as on the form) and its own line-2 totals;
a last page shows the Schedule D lines the form feeds. Negative amounts are in parentheses,
as the IRS instructions ask.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from tftrade.compliance.form8949 import Form8949, Row8949, Totals
from tftrade.compliance.pdf_canvas import PdfCanvas, text_width

ROWS_PER_PAGE = 14
_L, _R = 36.0, 576.0
# column edges: (a) (b) (c) (d) (e) (f) (g) (h)
_EDGES = (36.0, 190.0, 240.0, 290.0, 362.0, 434.0, 462.0, 512.0, 576.0)
_BOXES = {
    "I": (("A", "Short-term transactions reported on Form(s) 1099-B showing basis was reported to the IRS"),
          ("B", "Short-term transactions reported on Form(s) 1099-B showing basis wasn't reported to the IRS"),
          ("C", "Short-term transactions not reported to you on Form 1099-B")),
    "II": (("D", "Long-term transactions reported on Form(s) 1099-B showing basis was reported to the IRS"),
           ("E", "Long-term transactions reported on Form(s) 1099-B showing basis wasn't reported to the IRS"),
           ("F", "Long-term transactions not reported to you on Form 1099-B")),
}
_PART_TEXT = {
    "I": ("Short-Term.", "Transactions involving capital assets you held 1 year or less are generally short-term "
          "(see instructions)."),
    "II": ("Long-Term.", "Transactions involving capital assets you held more than 1 year are generally long-term "
           "(see instructions)."),
}
_LINE2 = {"I": "line 1b (if Box A above is checked), line 2 (if Box B above is checked), "
               "or line 3 (if Box C above is checked)",
          "II": "line 8b (if Box D above is checked), line 9 (if Box E above is checked), "
                "or line 10 (if Box F above is checked)"}


_GAIN_ONLY = ("6", "7", "14", "15", "16", "21")


def money(x: Decimal) -> str:
    """``1,234.50`` or ``(1,234.50)`` for a negative amount."""
    return f"({abs(x):,.2f})" if x < 0 else f"{x:,.2f}"


def render_pdf(form: Form8949, path: Path, name: str = "") -> Path:
    """Write ``form`` as a PDF to ``path``."""
    pages: list[tuple[str, str, Sequence[Row8949]]] = []
    for part in ("I", "II"):
        for box, _ in _BOXES[part]:
            box_rows = [r for r in form.rows if r.box == box]
            pages += [(part, box, box_rows[i:i + ROWS_PER_PAGE]) for i in range(0, len(box_rows), ROWS_PER_PAGE)]
    pdf = PdfCanvas()
    total = len(pages) + 1
    for n, (part, box, rows) in enumerate(pages, start=1):
        pdf.new_page()
        _page(pdf, form, part, box, rows, name or (form.account or "all accounts"), f"Page {n} of {total}")
    pdf.new_page()
    _schedule_d(pdf, form, f"Page {total} of {total}")
    return pdf.save(path)


def _header(pdf: PdfCanvas, form: Form8949, name: str) -> float:
    top = 756.0
    pdf.text(_L, top, "Form", 7)
    pdf.text(_L + 20, top - 4, "8949", 20, bold=True)
    pdf.text(_L, top - 20, "Department of the Treasury", 6)
    pdf.text(_L, top - 27, "Internal Revenue Service", 6)
    pdf.line(_L + 110, top + 10, _L + 110, top - 32)
    pdf.line(_R - 100, top + 10, _R - 100, top - 32)
    mid = (_L + 110 + _R - 100) / 2
    pdf.text(mid, top - 2, "Sales and Other Dispositions of Capital Assets", 11, bold=True, align="center")
    pdf.text(mid, top - 14, "Go to www.irs.gov/Form8949 for instructions and the latest information.", 6.5,
             align="center")
    pdf.text(mid, top - 23, "File with your Schedule D to list your transactions for lines 1b, 2, 3, 8b, 9, and 10 "
             "of Schedule D.", 6.5, align="center")
    pdf.text(_R - 94, top + 2, "OMB No. 1545-0074", 6.5)
    pdf.text(_R - 50, top - 16, str(form.year), 16, bold=True, align="center")
    pdf.text(_R - 94, top - 28, "Attachment Sequence No. 12A", 6)
    pdf.line(_L, top - 34, _R, top - 34, 1.2)
    pdf.text(_L, top - 42, "Name(s) shown on return", 6)
    pdf.text(_L + 4, top - 52, name, 8)
    pdf.line(_R - 170, top - 34, _R - 170, top - 56)
    pdf.text(_R - 166, top - 42, "Social security number or taxpayer identification number", 6)
    pdf.line(_L, top - 56, _R, top - 56)
    return top - 56


def _page(pdf: PdfCanvas, form: Form8949, part: str, box: str, rows: Sequence[Row8949], name: str,
          page_label: str) -> None:
    y = _header(pdf, form, name)
    pdf.text(_L, y - 12, "Before you check Box A, B, C, D, E, or F below, see whether you received any Form(s) 1099-B "
             "or substitute statement(s) from your broker.", 6.5)
    y -= 20
    pdf.rect(_L, y - 13, 36, 12, fill=True)
    pdf.text(_L + 18, y - 10, f"Part {part}", 8, bold=True, align="center", white=True)
    head, rest = _PART_TEXT[part]
    pdf.text(_L + 42, y - 10, head, 8, bold=True)
    pdf.text(_L + 42 + 52, y - 10, rest, 7)
    pdf.line(_L, y - 14, _R, y - 14)
    pdf.text(_L, y - 24, "You must check Box " + ("A, B, or C" if part == "I" else "D, E, or F") +
             " below. Check only one box. If more than one box applies, complete a separate Form 8949, page "
             + ("1" if part == "I" else "2") + ", for each applicable box.", 6.5, bold=True)
    y -= 30
    for letter, label in _BOXES[part]:
        pdf.rect(_L + 4, y - 9, 8, 8)
        if letter == box:
            pdf.text(_L + 8, y - 7.5, "X", 8, bold=True, align="center")
        pdf.text(_L + 16, y - 8, f"({letter})  {label}", 7)
        y -= 11
    _table(pdf, part, rows, y - 4)
    pdf.line(_L, 40, _R, 40, 1.2)
    pdf.text(_L, 31, "For Paperwork Reduction Act Notice, see your tax return instructions.", 6.5, bold=True)
    pdf.text(360, 31, "Cat. No. 37768Z", 6.5)
    pdf.text(_R, 31, f"Form 8949 ({form.year})", 7, bold=True, align="right")
    pdf.text(_L, 22, "Prepared by tftrade from its tax lots (relief method "
             f"{form.method.upper()}; wash sales applied). "
             f"{page_label}", 6)


def _table(pdf: PdfCanvas, part: str, rows: Sequence[Row8949], top: float) -> None:
    e = _EDGES
    head_h, row_h = 46.0, 18.0
    pdf.line(_L, top, _R, top, 1.0)
    pdf.text(_L + 2, top - 9, "1", 8, bold=True)
    heads = [("(a)", ["Description of property", "(Example: 100 sh. XYZ Co.)"]),
             ("(b)", ["Date acquired", "(Mo., day, yr.)"]), ("(c)", ["Date sold or", "disposed of", "(Mo., day, yr.)"]),
             ("(d)", ["Proceeds", "(sales price)", "(see instructions)"]),
             ("(e)", ["Cost or other basis.", "See the Note below", "and see Column (e)"]),
             ("(f)", ["Code(s)", "from", "instructions"]), ("(g)", ["Amount of", "adjustment"]),
             ("(h)", ["Gain or (loss).", "Subtract column (e)", "from column (d) and", "combine the result",
                      "with column (g)"])]
    for i, (tag, lines) in enumerate(heads):
        cx = (e[i] + e[i + 1]) / 2
        drop = 10.0 if i in (5, 6) else 0.0  # (f) and (g) sit under their shared heading
        pdf.text(cx, top - 9 - drop, tag, 7, bold=True, align="center")
        room = e[i + 1] - e[i] - 2.0
        for k, text in enumerate(lines):  # shrunk where a line would cross its column's rules
            size = min(5.6, 5.6 * room / text_width(text, 5.6))
            pdf.text(cx, top - 17 - drop - 6.2 * k, text, size, align="center")
    pdf.line(e[5], top - 11, e[7], top - 11, 0.3)
    pdf.text((e[5] + e[7]) / 2, top - 5, "Adjustment, if any, to gain", 4.8, align="center")
    pdf.text((e[5] + e[7]) / 2, top - 10, "or loss. See instructions.", 4.8, align="center")
    bottom_head = top - head_h
    pdf.line(_L, bottom_head, _R, bottom_head)
    y = bottom_head
    for i in range(ROWS_PER_PAGE):
        r = rows[i] if i < len(rows) else None
        if r is not None:
            base = y - 12
            pdf.text(e[0] + 3, base, r.description, 7.5)
            pdf.text((e[1] + e[2]) / 2, base, r.acquired.strftime("%m/%d/%Y"), 7.5, align="center")
            pdf.text((e[2] + e[3]) / 2, base, r.sold.strftime("%m/%d/%Y"), 7.5, align="center")
            pdf.text(e[4] - 3, base, money(r.proceeds), 7.5, align="right")
            pdf.text(e[5] - 3, base, money(r.basis), 7.5, align="right")
            pdf.text((e[5] + e[6]) / 2, base, r.code, 7.5, align="center")
            if r.code:
                pdf.text(e[7] - 3, base, money(r.adjustment), 7.5, align="right")
            pdf.text(e[8] - 3, base, money(r.gain), 7.5, align="right")
        y -= row_h
        pdf.line(_L, y, _R, y, 0.3)
    t = Totals()
    for r in rows:
        t = t + Totals(r.proceeds, r.basis, r.adjustment, r.gain)
    pdf.text(_L + 2, y - 9, "2", 8, bold=True)
    label = ["Totals. Add the amounts in columns (d), (e), (g), and (h) (subtract",
            "negative amounts). Enter each total here and include on your",
            "Schedule D, " + _LINE2[part].split(", or ")[0] + ",",
            "or " + _LINE2[part].split(", or ")[1]]
    for k, s in enumerate(label):
        pdf.text(_L + 10, y - 9 - 7 * k, s, 5.8, bold=k == 0)
    for col, value in ((4, t.proceeds), (5, t.basis), (7, t.adjustment), (8, t.gain)):
        pdf.text(e[col] - 3, y - 16, money(value), 7.5, bold=True, align="right")
    bottom = y - 32
    pdf.line(_L, bottom, _R, bottom, 1.0)
    for i, x in enumerate(e[1:-1], start=1):  # (b) and (c) stop above line 2, whose label spans (a)-(c)
        pdf.line(x, top - 11 if i == 6 else top, x, y if i in (1, 2) else bottom, 0.5)
    pdf.text(_L, bottom - 10, "Note: If you checked Box A or D above but the basis reported to the IRS was incorrect, "
             "enter in column (e) the basis as reported to the IRS, and enter an", 5.8)
    pdf.text(_L, bottom - 17, "adjustment in column (g) to correct the basis. See Column (g) in the separate "
             "instructions for how to figure the amount of the adjustment.", 5.8)


def _schedule_d(pdf: PdfCanvas, form: Form8949, page_label: str) -> None:
    top = 756.0
    pdf.text(_L, top, "Schedule D (Form 1040)", 14, bold=True)
    pdf.text(_L, top - 14, f"Capital Gains and Losses, {form.year}: the lines Form 8949 feeds "
             f"({form.account or 'all accounts'})", 9)
    pdf.line(_L, top - 20, _R, top - 20, 1.2)
    cols = (_L, 290.0, 365.0, 440.0, 508.0, _R)
    y = top - 36
    for i, h in enumerate(["Line", "(d) Proceeds", "(e) Cost or basis", "(g) Adjustments", "(h) Gain or (loss)"]):
        pdf.text(cols[i] + 2 if i == 0 else cols[i + 1] - 3, y, h, 6.5, bold=True, align="left" if i == 0 else "right")
    y -= 6
    pdf.line(_L, y, _R, y)
    for ln in form.schedule_d:
        if ln.line == "21":
            y -= 10
            pdf.text(_L, y, "Part III  Summary", 8, bold=True)
        y -= 16
        bold = ln.line in ("7", "15", "16", "21")
        pdf.text(_L + 2, y + 4, ln.line, 8, bold=True)
        pdf.text(_L + 24, y + 4, ln.label, 7, bold=bold)
        t = ln.totals
        for col, value in ((2, t.proceeds), (3, t.basis), (4, t.adjustment), (5, t.gain)):
            if not (ln.line in _GAIN_ONLY and col < 5):
                pdf.text(cols[col] - 3, y + 4, money(value), 7.5, bold=bold, align="right")
        pdf.line(_L, y, _R, y, 0.8 if bold else 0.3)
        if ln.line == "7":
            y -= 10
            pdf.text(_L, y, "Part II  Long-Term Capital Gains and Losses", 8, bold=True)
    y = _carryover(pdf, form, y - 24)
    for note in form.notes:
        pdf.text(_L, y, note[:150], 6.5)
        y -= 9
    pdf.text(_L, 22, f"Prepared by tftrade. {page_label}", 6)


def _carryover(pdf: PdfCanvas, form: Form8949, y: float) -> float:
    """The capital-loss limit and the carryover to next year (the Schedule D instructions' worksheet)."""
    loss = form.loss
    if loss is None or (loss.deduction == 0 and loss.carry_in.total == 0):
        return y
    pdf.text(_L, y, f"Capital loss carryover (limit {money(loss.limit)} a year; IRC 1211(b), 1212(b))", 8, bold=True)
    lines = [("Carried in from last year: short-term (line 6)", loss.carry_in.short_term),
             ("Carried in from last year: long-term (line 14)", loss.carry_in.long_term),
             ("Deducted from ordinary income this year (line 21)", loss.deduction),
             ("Carried to next year: short-term (worksheet line 8)", loss.carry_out.short_term),
             ("Carried to next year: long-term (worksheet line 13)", loss.carry_out.long_term)]
    for label, value in lines:
        y -= 12
        pdf.text(_L + 24, y, label, 7)
        pdf.text(_R - 3, y, money(value), 7.5, align="right")
        pdf.line(_L + 24, y - 3, _R, y - 3, 0.3)
    return y - 20
