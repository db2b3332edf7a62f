"""The $3,000 capital-loss limit and its carryover by character (IRC §1211(b), §1212(b); Schedule D)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tftrade.compliance.capital_loss import Carryover, limit_losses, loss_limit, loss_years
from tftrade.compliance.errors import TaxReportError
from tftrade.compliance.form8949 import form_8949
from tftrade.compliance.form8949_export import to_dict
from tftrade.compliance.ledger import build_ledger
from tftrade.compliance.transactions import Transaction


def test_net_loss_of_10000_deducts_3000_and_carries_7000_with_its_character() -> None:
    r = limit_losses(D(-10000), D(0), Carryover())
    assert (r.deduction, r.carry_out) == (D(3000), Carryover(D(7000), D(0)))
    r = limit_losses(D(0), D(-10000), Carryover())
    assert (r.deduction, r.carry_out) == (D(3000), Carryover(D(0), D(7000)))
    # both classes lose: the deduction comes out of the short-term loss first (worksheet lines 5-8, 9-13)
    r = limit_losses(D(-4000), D(-6000), Carryover())
    assert (r.deduction, r.carry_out) == (D(3000), Carryover(D(1000), D(6000)))
    r = limit_losses(D(-2000), D(-8000), Carryover())
    assert (r.deduction, r.carry_out) == (D(3000), Carryover(D(0), D(7000)))
    # a gain in one class is netted first: +2,000 short-term, -12,000 long-term -> 7,000 long-term carried
    r = limit_losses(D(2000), D(-12000), Carryover())
    assert (r.deduction, r.carry_out) == (D(3000), Carryover(D(0), D(7000)))
    # married filing separately: $1,500
    r = limit_losses(D(-10000), D(0), Carryover(), "mfs")
    assert (r.deduction, r.carry_out) == (D(1500), Carryover(D(8500), D(0)))
    # a small loss is deducted whole; a gain carries nothing
    assert limit_losses(D(-800), D(0), Carryover()).carry_out == Carryover()
    assert limit_losses(D(5000), D(-100), Carryover()).deduction == 0


def test_the_carryover_enters_next_year_on_lines_6_and_14() -> None:
    years = loss_years({2023: (D(-10000), D(0)), 2025: (D(1000), D(2500))}, 2026)
    assert [(y, r.deduction, r.carry_out.short_term) for y, r in years.items()] == [
        (2023, D(3000), D(7000)), (2024, D(3000), D(4000)),  # a year without sales still uses the carryover
        (2025, D(500), D(0)), (2026, D(0), D(0))]  # 1,000 - 4,000 + 2,500 = -500: all deducted
    assert years[2025].carry_in == Carryover(D(4000), D(0)) and years[2025].net_short == D(-3000)


@given(st.integers(-50_000, 50_000), st.integers(-50_000, 50_000), st.integers(0, 20_000), st.integers(0, 20_000))
def test_nothing_is_lost_or_made_up(s: int, lt: int, cs: int, cl: int) -> None:
    """Deducted + carried = the net loss (after last year's carryover); nothing carried out of a net gain."""
    r = limit_losses(D(s), D(lt), Carryover(D(cs), D(cl)))
    net = D(s + lt - cs - cl)
    assert 0 <= r.deduction <= loss_limit()
    assert r.deduction + r.carry_out.total == max(-net, D(0))
    assert r.carry_out.short_term <= max(D(cs - s), D(0)) and r.carry_out.long_term <= max(D(cl - lt), D(0))


def test_schedule_d_shows_the_carryover_and_the_deduction() -> None:
    def t(day: date, side: str, q: int, price: str) -> Transaction:
        return Transaction("A", "X", day, side, D(q), D(price))  # type: ignore[arg-type]

    led = build_ledger([t(date(2024, 1, 2), "buy", 100, "200"), t(date(2024, 6, 3), "sell", 100, "100"),
                        t(date(2025, 1, 2), "buy", 10, "100"), t(date(2025, 2, 3), "sell", 10, "150")])
    f24 = form_8949(led.dispositions(), 2024)
    lines = {ln.line: ln.totals.gain for ln in f24.schedule_d}
    assert (lines["7"], lines["16"], lines["21"]) == (D(-10000), D(-10000), D(-3000))
    f25 = form_8949(led.dispositions(), 2025)
    lines = {ln.line: ln.totals.gain for ln in f25.schedule_d}
    assert (lines["6"], lines["7"], lines["16"], lines["21"]) == (D(-7000), D(-6500), D(-6500), D(-3000))
    doc = to_dict(f25)["capital_loss"]
    assert doc["carryover_in"] == {"short_term": D(7000), "long_term": D(0)} and doc["deducted"] == D(3000)
    assert doc["carryover_to_next_year"] == {"short_term": D(3500), "long_term": D(0)}
    assert doc["carryover_worksheet"]["8"] == D(3500)
    # a carryover from before the history, and married filing separately
    f = form_8949(led.dispositions(), 2024, carryover=Carryover(D(0), D(500)), status="mfs")
    lines = {ln.line: ln.totals.gain for ln in f.schedule_d}
    assert (lines["14"], lines["15"], lines["21"]) == (D(-500), D(-500), D(-1500))


def test_bad_input() -> None:
    with pytest.raises(TaxReportError, match="filing status 'married'"):
        loss_limit("married")  # type: ignore[arg-type]
    with pytest.raises(TaxReportError, match="positive amount"):
        Carryover(D(-1), D(0))
