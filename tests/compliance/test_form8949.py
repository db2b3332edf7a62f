"""Form 8949 rows, boxes and totals; the PDF's pages and text; TXF records; the order story through the CLI."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tftrade.cli import app
from tftrade.compliance.errors import TaxReportError
from tftrade.compliance.form8949 import form_8949
from tftrade.compliance.form8949_export import to_txf
from tftrade.compliance.form8949_pdf import render_pdf
from tftrade.compliance.ledger import build_ledger
from tftrade.compliance.transactions import Transaction


def _form(n_short: int = 3):  # type: ignore[no-untyped-def]
    txns = [Transaction("A", "LT", date(2022, 1, 3), "buy", D(10), D("10.005"), D("0.01"), "l1")]
    day = date(2024, 1, 2)
    for i in range(n_short):
        txns.append(Transaction("A", "S", day, "buy", D(1), D(100 + i), D(0), f"b{i}"))
        txns.append(Transaction("A", "S", day + timedelta(days=2), "sell", D(1), D(105), D(0), f"s{i}"))
        day += timedelta(days=3)
    txns.append(Transaction("A", "LT", date(2024, 12, 20), "sell", D(10), D("8.00"), D("0.01"), "l2"))
    txns.append(Transaction("B", "LT", date(2025, 1, 6), "buy", D(4), D("7.00"), D(0), "l3"))  # washes 4 shares
    return form_8949(build_ledger(txns).dispositions(), 2024)


def test_rows_boxes_codes_and_totals_add_up() -> None:
    form = _form()
    lt = next(r for r in form.rows if r.ticker == "LT")
    assert (lt.box, lt.description, lt.code) == ("D", "10 sh. LT", "W")  # washed by a January buy in another account
    assert (lt.proceeds, lt.basis) == (D("79.99"), D("100.06"))  # 100.05 + 0.01 fee
    assert lt.adjustment == D("8.03") and lt.gain == lt.proceeds - lt.basis + lt.adjustment  # 4/10 of 20.07
    for r in form.rows:
        assert r.gain == r.proceeds - r.basis + r.adjustment and r.adjustment >= 0
    lines = {ln.line: ln.totals for ln in form.schedule_d}
    assert lines["16"].gain == lines["7"].gain + lines["15"].gain == sum(r.gain for r in form.rows)
    assert lines["1b"].gain == sum(r.gain for r in form.rows if r.box == "A")
    with pytest.raises(TaxReportError, match="no sales in 2023"):
        form_8949([], 2023)
    c = form_8949(build_ledger([Transaction("A", "X", date(2024, 1, 2), "buy", D(1), D(1)),
                                Transaction("A", "X", date(2024, 1, 3), "sell", D(1), D(2))]).dispositions(),
                  2024, short_box="C")
    assert c.rows[0].box == "C" and c.schedule_d[2].line == "3" and c.schedule_d[2].totals.gain == 1


def test_pdf_has_one_page_per_14_rows_per_box_and_the_form_text(tmp_path: Path) -> None:
    form = _form(n_short=20)
    data = render_pdf(form, tmp_path / "f.pdf", "Example Fund").read_bytes()
    pages = len(re.findall(rb"/Type /Page ", data))
    assert pages == 2 + 1 + 1  # 20 short-term rows: 2 pages; 1 long-term page; Schedule D
    for text in (b"(8949)", b"(Sales and Other Dispositions of Capital Assets)", b"(Part I)", b"(Part II)",
                 b"(Example Fund)", b"(W)", b"(Form 8949 \\(2024\\))", b"(Schedule D \\(Form 1040\\))"):
        assert text in data
    assert data.rstrip().endswith(b"%%EOF")


def test_pdf_text_stays_inside_its_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tftrade.compliance import form8949_pdf
    from tftrade.compliance.pdf_canvas import PdfCanvas, text_width

    drawn: list[tuple[float, float, str, float, bool, str]] = []
    original = PdfCanvas.text

    def record(self, x, y, text, size=7, bold=False, align="left", *args, **kw):  # type: ignore[no-untyped-def]
        drawn.append((x, y, text, size, bold, align))
        return original(self, x, y, text, size, bold, align, *args, **kw)

    monkeypatch.setattr(PdfCanvas, "text", record)
    txns = [Transaction("A", "BIG", date(2024, 1, 2), "buy", D(100_000), D("99.99"), D(0), "b1"),
            Transaction("A", "BIG", date(2024, 3, 1), "sell", D(100_000), D("90.00"), D(0), "s1"),
            Transaction("A", "BIG", date(2024, 3, 15), "buy", D(100_000), D("91.00"), D(0), "b2")]
    render_pdf(form_8949(build_ledger(txns).dispositions(), 2024), tmp_path / "f.pdf", "Example Fund")
    edges = form8949_pdf._EDGES
    cells = 0
    for x, _y, text, size, bold, align in drawn:
        for left, right in itertools.pairwise(edges):
            if align == "center" and abs(x - (left + right) / 2) < 0.01 and left > edges[0]:
                cells += 1
                assert text_width(text, size, bold) <= right - left - 1, (text, size, right - left)
            if align == "right" and abs(x - (right - 3)) < 0.01:
                cells += 1
                assert text_width(text, size, bold) <= right - left - 4, (text, size, right - left)
    assert cells > 20  # the headers of (b)-(h) and the amounts were all checked


def test_txf_records() -> None:
    txf = to_txf(_form(), date(2025, 2, 1))
    assert txf.startswith("V042\r\nAtftrade\r\nD02/01/2025\r\n^\r\n")
    record = txf.split("^\r\n")[-2]
    assert record.split("\r\n")[:9] == ["TD", "N713", "C1", "L1", "P10 sh. LT", "D01/03/2022", "D12/20/2024",
                                        "$100.06", "$79.99"]
    assert "$8.03" in record


def test_audit_show_tells_the_story_of_an_order() -> None:
    from tftrade.compliance import audit_events
    from tftrade.compliance.audit_log import AuditLog
    from tftrade.core.config import load_settings
    from tftrade.core.orders import Fill, Order
    from tftrade.store.engine import make_engine
    from tftrade.store.migrate import upgrade

    eng = make_engine(load_settings().resolved_database_url())
    upgrade(eng)
    log = AuditLog(eng)
    audit_events.decision(log, decided_ns=1, strategy_version="v", model_version="m", features_hash="h",
                          targets={"X": 0.04}, order_ids=["X-9"], rationale={"q50": 0.01})
    audit_events.order_intent(log, Order("X-9", "X", 3.0))
    audit_events.fill(log, Fill("X-9", "X", 3.0, 10.25, 0.0, 5))
    result = CliRunner().invoke(app, ["audit", "show", "--order", "X-9", "--json"])
    assert result.exit_code == 0, result.output
    story = json.loads(result.stdout)["entries"]
    assert [e["kind"] for e in story] == ["decision", "order_intent", "fill"]
    assert story[2]["payload"]["price"] == "10.25"
    human = CliRunner().invoke(app, ["audit", "show", "--order", "X-9"])
    assert "decision" in human.stdout and "fill" in human.stdout
