"""Form 8949 as CSV, JSON-ready dicts and TXF (Tax Exchange Format v042, for tax software).

TXF detail records use the 1099-B reference numbers: 711 short-term basis reported (box A),
712 short-term basis not reported (B), 713 long-term reported (D), 714 long-term not
reported (E), and 321 / 323 (short / long-term, no 1099-B: boxes C / F). A record lists
the description, date acquired, date sold, cost basis, proceeds and, for a wash sale, the
disallowed loss.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any

from tftrade.compliance.form8949 import Form8949, Row8949
from tftrade.compliance.money import cents

TXF_CODE = {"A": 711, "B": 712, "C": 321, "D": 713, "E": 714, "F": 323}
CSV_COLUMNS = ("part", "box", "description", "date_acquired", "date_sold", "proceeds", "cost_basis", "code",
               "adjustment", "gain_or_loss", "account", "ticker", "quantity", "lot_id", "sale_id")


def _us(d: date) -> str:
    return d.strftime("%m/%d/%Y")


def to_csv(form: Form8949) -> str:
    """Rows as CSV (one header row), then the Schedule D lines."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in form.rows:
        w.writerow([r.part, r.box, r.description, _us(r.acquired), _us(r.sold), r.proceeds, r.basis, r.code,
                    r.adjustment if r.code else "", r.gain, r.account, r.ticker, r.quantity, r.lot_id, r.sale_id])
    w.writerow([])
    w.writerow(["schedule_d_line", "label", "proceeds", "cost_basis", "adjustment", "gain_or_loss"])
    for line in form.schedule_d:
        t = line.totals
        w.writerow([line.line, line.label, t.proceeds, t.basis, t.adjustment, t.gain])
    return out.getvalue()


def to_dict(form: Form8949) -> dict[str, Any]:
    """Everything as plain data (Decimals stay Decimals; the CLI prints them as strings)."""
    def row(r: Row8949) -> dict[str, Any]:
        return {"part": r.part, "box": r.box, "a_description": r.description, "b_acquired": r.acquired,
                "c_sold": r.sold, "d_proceeds": r.proceeds, "e_basis": r.basis, "f_code": r.code,
                "g_adjustment": r.adjustment, "h_gain_or_loss": r.gain, "account": r.account, "lot_id": r.lot_id,
                "sale_id": r.sale_id, "short_sale": r.short_sale, "short_sale_opened": r.opened}
    return {"year": form.year, "account": form.account, "method": form.method, "rows": [row(r) for r in form.rows],
            "box_totals": {b: t for b, t in sorted(form.box_totals().items())},
            "schedule_d": [{"line": ln.line, "label": ln.label, "proceeds": ln.totals.proceeds,
                            "basis": ln.totals.basis, "adjustment": ln.totals.adjustment, "gain": ln.totals.gain}
                           for ln in form.schedule_d],
            "capital_loss": None if form.loss is None else capital_loss_dict(form),
            "notes": list(form.notes)}


def capital_loss_dict(form: Form8949) -> dict[str, Any]:
    """The year's capital-loss limit: carryover in and out by character, the deduction, the worksheet."""
    loss = form.loss
    assert loss is not None
    c_in, c_out = loss.carry_in, loss.carry_out
    out: dict[str, Any] = _cents({
        "limit": loss.limit, "carryover_in": {"short_term": c_in.short_term, "long_term": c_in.long_term},
        "net_short_term": loss.net_short, "net_long_term": loss.net_long, "net": loss.total,
        "deducted": loss.deduction,
        "carryover_to_next_year": {"short_term": c_out.short_term, "long_term": c_out.long_term},
        "carryover_worksheet": loss.worksheet()})
    return out


def _cents(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return cents(obj)
    return {k: _cents(v) for k, v in obj.items()} if isinstance(obj, dict) else obj


def to_txf(form: Form8949, today: date) -> str:
    """The rows as a TXF v042 file (CRLF line ends, as tax software expects)."""
    lines = ["V042", "Atftrade", f"D{_us(today)}", "^"]
    for r in form.rows:
        lines += ["TD", f"N{TXF_CODE[r.box]}", "C1", "L1", f"P{r.description}", f"D{_us(r.acquired)}",
                  f"D{_us(r.sold)}", f"${r.basis}", f"${r.proceeds}"]
        if r.code == "W":
            lines.append(f"${r.adjustment}")
        lines.append("^")
    return "\r\n".join(lines) + "\r\n"
