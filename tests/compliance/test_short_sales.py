"""Short sales in the tax lots (IRC §1233, Publication 550 "Short Sales"), IRA wash sales (Rev. Rul. 2008-5)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tftrade.compliance.errors import TaxLotError
from tftrade.compliance.form8949 import form_8949
from tftrade.compliance.form8949_export import to_dict
from tftrade.compliance.ledger import TaxLedger, build_ledger
from tftrade.compliance.transactions import Transaction


def T(day: date, side: str, q: int, price: str, ticker: str = "ABLE", account: str = "A",
      fees: str = "0") -> Transaction:
    return Transaction(account, ticker, day, side, D(q), D(price), D(fees))  # type: ignore[arg-type]


def test_a_short_sale_covered_later_is_a_short_term_gain_reported_on_the_cover_date() -> None:
    """Pub 550: sold short 100 shares for $1,600, covered 13 months later: the holding period of the
    shares delivered (bought that day) is under a day, so the result is short-term."""
    led = build_ledger([T(date(2024, 10, 2), "short", 100, "16", fees="0"),
                        T(date(2025, 11, 3), "cover", 100, "10", fees="1")])
    (d,) = led.dispositions()
    assert d.short_sale and d.opened == date(2024, 10, 2)
    assert (d.proceeds, d.basis, d.gain, d.term) == (D(1600), D(1001), D(599), "short")
    form = form_8949(led.dispositions(), 2025)
    (row,) = form.rows
    assert (row.box, row.acquired, row.sold) == ("A", date(2025, 11, 3), date(2025, 11, 3))  # 8949 instructions
    assert row.description == "100 sh. ABLE (short sale)"
    assert not led.open_short_lots() and led.short_position("A", "ABLE") == 0


def test_pub550_example_2_holding_period_starts_when_the_short_sale_closes() -> None:
    """Pub 550, Short Sales, Example 2: bought 100 Able on 4 May for $1,000; sold 100 short on 2 October for
    $1,600; bought 100 on 2 November for $1,800 and closed the short sale: a $200 short-term loss. The shares
    bought on 4 May, sold the next 3 June for $1,800, were held over a year, but their holding period began on
    2 November, when the short sale closed: the $800 gain is short-term."""
    led = build_ledger([T(date(1995, 5, 4), "buy", 100, "10"), T(date(1995, 10, 2), "short", 100, "16"),
                        T(date(1995, 11, 2), "cover", 100, "18"), T(date(1996, 6, 3), "sell", 100, "18")])
    cover, sale = led.dispositions()
    assert (cover.gain, cover.term) == (D(-200), "short")
    assert (sale.gain, sale.acquired, sale.term) == (D(800), date(1995, 11, 2), "short")
    # without the short sale the same shares would be long-term
    plain = build_ledger([T(date(1995, 5, 4), "buy", 100, "10"), T(date(1996, 6, 3), "sell", 100, "18")])
    assert plain.dispositions()[0].term == "long"


def test_a_short_sale_loss_is_long_term_when_identical_stock_was_held_over_a_year() -> None:
    """Pub 550: if on the date of the short sale you held substantially identical property for more than a
    year, a loss on closing the short sale is long-term, even if the shares delivered were held a day.
    Only as many shares as were held; a gain stays short-term."""
    led = build_ledger([T(date(2020, 1, 2), "buy", 60, "10"), T(date(2024, 3, 1), "short", 100, "20"),
                        T(date(2024, 4, 1), "cover", 100, "25")])
    rows = sorted((d.quantity, d.term, d.gain) for d in led.dispositions())
    assert rows == [(D(40), "short", D(-200)), (D(60), "long", D(-300))]
    gain = build_ledger([T(date(2020, 1, 2), "buy", 60, "10"), T(date(2024, 3, 1), "short", 60, "20"),
                         T(date(2024, 4, 1), "cover", 60, "15")])
    assert [(d.term, d.gain) for d in gain.dispositions()] == [("short", D(300))]


def test_a_cover_at_a_loss_is_washed_by_another_short_sale_within_30_days() -> None:
    """Pub 550: the wash-sale rule applies to a loss on closing a short sale if, within 30 days before or after
    the closing, substantially identical stock is sold short again; the loss is added to the cost of closing
    the new short sale (and recognised when that one is covered)."""
    led = build_ledger([T(date(2024, 3, 1), "short", 100, "20"), T(date(2024, 3, 20), "cover", 100, "23"),
                        T(date(2024, 4, 5), "short", 60, "24"), T(date(2024, 6, 3), "cover", 60, "22")])
    first, second = led.dispositions()
    assert (first.gain, first.disallowed) == (D(-120), D(180))  # 60 of the 100 loss shares washed
    assert (second.basis, second.gain) == (D(60 * 22 + 180), D(60 * 24 - 60 * 22 - 180))
    assert led.deferred_losses() == 0
    # 31 days later: not washed; a purchase does not wash a cover's loss
    late = build_ledger([T(date(2024, 3, 1), "short", 100, "20"), T(date(2024, 3, 20), "cover", 100, "23"),
                         T(date(2024, 4, 20), "short", 60, "24"), T(date(2024, 3, 25), "buy", 10, "23", "OTHER")])
    assert late.dispositions()[0].disallowed == 0
    bought = build_ledger([T(date(2024, 3, 1), "short", 100, "20"), T(date(2024, 3, 20), "cover", 100, "23"),
                           T(date(2024, 3, 25), "buy", 100, "23")])
    assert bought.dispositions()[0].disallowed == 0
    # a short sale open before the covered one closed (opened within 30 days before the cover) washes it too
    before = build_ledger([T(date(2024, 3, 1), "short", 100, "20"), T(date(2024, 3, 10), "short", 100, "21"),
                           T(date(2024, 3, 20), "cover", 100, "23")])
    assert before.dispositions()[0].disallowed == D(300)
    assert [s.adjustment for s in before.open_short_lots()] == [D(300)]


def test_form_8949_json_marks_short_sales_and_wash_codes() -> None:
    led = build_ledger([T(date(2024, 3, 1), "short", 100, "20"), T(date(2024, 3, 20), "cover", 100, "23"),
                        T(date(2024, 4, 5), "short", 100, "24"), T(date(2024, 6, 3), "cover", 100, "22")])
    doc = to_dict(form_8949(led.dispositions(), 2024))
    first, second = doc["rows"]
    assert (first["f_code"], first["g_adjustment"], first["h_gain_or_loss"]) == ("W", D("300.00"), D("0.00"))
    assert first["short_sale"] and first["short_sale_opened"] == date(2024, 3, 1)
    assert second["e_basis"] == D("2500.00") and second["h_gain_or_loss"] == D("-100.00")


def test_bad_short_sale_input_is_refused_and_changes_nothing() -> None:
    led = TaxLedger()
    led.book(T(date(2024, 3, 1), "short", 100, "20"))
    with pytest.raises(TaxLotError, match="covers 150 ABLE in account A but only 100 are sold short"):
        led.book(T(date(2024, 3, 2), "cover", 150, "20"))
    with pytest.raises(TaxLotError, match=r"covers 5 OTHER .* only 0"):
        led.book(T(date(2024, 3, 2), "cover", 5, "20", "OTHER"))
    with pytest.raises(TaxLotError, match="a short sale is side 'short'"):
        led.book(T(date(2024, 3, 2), "sell", 5, "20", "OTHER"))
    assert led.short_position("A", "ABLE") == 100 and not led.dispositions()
    led.book(T(date(2024, 3, 1), "cover", 100, "20"))  # the refused ones did not move the date on
    with pytest.raises(TaxLotError, match="IRA"):
        TaxLedger(ira_accounts=["R"]).book(T(date(2024, 3, 1), "short", 1, "1", account="R"))
    with pytest.raises(TaxLotError, match="float"):
        Transaction("A", "X", date(2024, 1, 2), "short", 1.5, D(1))  # type: ignore[arg-type]


def test_ira_purchase_disallows_a_taxable_loss_for_good() -> None:
    """Rev. Rul. 2008-5: stock sold at a loss in a taxable account and bought within 30 days in the same
    person's IRA: the loss is disallowed and the IRA's basis is not increased."""
    txns = [T(date(2024, 1, 2), "buy", 100, "50", account="taxable"),
            T(date(2024, 3, 1), "sell", 100, "40", account="taxable"),
            T(date(2024, 3, 15), "buy", 100, "41", account="ira")]
    led = build_ledger(txns, ira_accounts=["ira"])
    (d,) = led.taxable_dispositions()
    assert (d.disallowed, d.permanent, d.gain) == (D(1000), D(1000), D(0))
    (lot,) = led.open_lots("ira")
    assert (lot.basis, lot.acquired) == (D(4100), date(2024, 3, 15))  # no adjustment, no tacked holding period
    assert led.deferred_losses() == 0  # nothing deferred: lost
    # the same purchase in another taxable account defers the loss into that lot instead
    taxable = build_ledger(txns)
    assert taxable.open_lots("ira")[0].basis == D(5100) and taxable.deferred_losses() == D(1000)
    # the IRA's own sales are not reported and wash nothing
    more = build_ledger([*txns, T(date(2024, 5, 1), "sell", 100, "30", account="ira"),
                         T(date(2024, 5, 2), "buy", 100, "30", account="ira")], ira_accounts=["ira"])
    assert [x.account for x in more.taxable_dispositions()] == ["taxable"]
    assert more.dispositions()[-1].disallowed == 0
    row = form_8949(more.taxable_dispositions(), 2024).rows[0]
    assert (row.code, row.adjustment, row.gain) == ("W", D("1000.00"), D("0.00"))


@st.composite
def _short_history(draw: st.DrawFn) -> list[Transaction]:
    day, out, short = date(2024, 1, 2), [], 0
    for _ in range(draw(st.integers(1, 12))):
        day = day + timedelta(days=draw(st.integers(0, 40)))
        price, fees = str(draw(st.integers(1, 200))), str(draw(st.integers(0, 3)))
        if short and draw(st.booleans()):
            q = draw(st.integers(1, short))
            out.append(T(day, "cover", q, price, fees=fees))
            short -= q
        else:
            q = draw(st.integers(1, 50))
            out.append(T(day, "short", q, price, fees=fees))
            short += q
    if short:
        out.append(T(day + timedelta(days=1), "cover", short, str(draw(st.integers(1, 200)))))
    return out


@given(_short_history())
def test_short_sales_account_for_every_cent(txns: list[Transaction]) -> None:
    """All covered: recognised results = short-sale proceeds − cover costs exactly (washed losses come back on
    the replacement's cover); no disallowed amount exceeds its loss."""
    led = build_ledger(txns)
    net = sum((t.gross - t.fees for t in txns if t.side == "short"), D(0))
    cost = sum((t.gross + t.fees for t in txns if t.side == "cover"), D(0))
    disps = led.dispositions()
    assert sum((d.gain for d in disps), D(0)) + led.deferred_losses() == net - cost
    assert not led.open_short_lots() and all(0 <= d.disallowed <= d.loss for d in disps)
