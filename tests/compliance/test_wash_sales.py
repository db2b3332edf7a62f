"""Wash sales against the IRS's own worked examples (26 CFR 1.1091-2, Publication 550) and properties."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tftrade.compliance.errors import TaxLotError
from tftrade.compliance.ledger import TaxLedger, build_ledger
from tftrade.compliance.transactions import Split, Transaction


def buy(day: date, q: int | str, amount: str, ticker: str = "X", account: str = "A", tid: str = "") -> Transaction:
    """A purchase of ``q`` shares for a total of ``amount``."""
    return Transaction(account, ticker, day, "buy", D(q), D(amount) / D(q), D(0), tid)


def sell(day: date, q: int | str, amount: str, ticker: str = "X", account: str = "A", tid: str = "",
         lots: tuple[tuple[str, D], ...] = ()) -> Transaction:
    return Transaction(account, ticker, day, "sell", D(q), D(amount) / D(q), D(0), tid, lots)


@pytest.mark.parametrize(("new_price", "basis"), [("90", D(110)), ("70", D(90))])
def test_cfr_1_1091_2_examples_1_and_2(new_price: str, basis: D) -> None:
    # A bought a share for $100 in 1935, sold it 15 Jan 1955 for $80, bought one on 1 Feb 1955 for $90 ($70):
    # no loss is recognised; the new share's basis is $110 ($90).
    led = build_ledger([buy(date(1935, 3, 1), 1, "100"), sell(date(1955, 1, 15), 1, "80"),
                        buy(date(1955, 2, 1), 1, new_price)])
    (d,) = led.dispositions()
    assert d.disallowed == D(20) and d.gain == 0
    (lot,) = led.open_lots()
    assert lot.basis == basis
    assert lot.acquired < date(1955, 2, 1) and lot.acquired == date(1955, 2, 1) - (date(1955, 1, 15) - date(1935, 3, 1))


def test_pub550_loss_added_to_basis_of_new_stock() -> None:
    # 100 shares bought for $1,000, sold for $750, 100 bought within 30 days for $800: basis $1,050.
    led = build_ledger([buy(date(2024, 3, 1), 100, "1000"), sell(date(2024, 6, 3), 100, "750"),
                        buy(date(2024, 6, 20), 100, "800")])
    assert led.dispositions()[0].disallowed == D(250)
    assert led.open_lots()[0].basis == D(1050)


def test_pub550_partial_replacement_bought_before_the_sale() -> None:
    # 100 M bought 24 Sep for $5,000; 50 on 18 Dec for $2,750; 25 on 28 Dec for $1,125; the September
    # shares sold 7 Jan for $4,000: the loss on 75 shares ($750) is disallowed, $250 is deductible.
    led = build_ledger([buy(date(2024, 9, 24), 100, "5000", tid="sep"), buy(date(2024, 12, 18), 50, "2750"),
                        buy(date(2024, 12, 28), 25, "1125"), sell(date(2025, 1, 7), 100, "4000")])
    (d,) = led.dispositions()
    assert (d.disallowed, d.gain) == (D(750), D(-250))
    bases = [lot.basis for lot in led.open_lots()]
    assert bases == [D(3250), D(1375)]
    assert all(lot.replacement for lot in led.open_lots())


def test_partial_repurchase_after_the_sale_disallows_only_matched_shares() -> None:
    # 100 @ $180; 50 sold @ $140 (loss $2,000); 25 bought back @ $150 within 30 days: $1,000 disallowed.
    led = build_ledger([buy(date(2023, 4, 1), 100, "18000"), sell(date(2024, 2, 1), 50, "7000"),
                        buy(date(2024, 2, 16), 25, "3750")])
    (d,) = led.dispositions()
    assert (d.disallowed, d.gain) == (D(1000), D(-1000))
    old, new = led.open_lots()
    # the old shares were bought long before: not a replacement
    assert (old.quantity, old.basis, old.replacement) == (D(50), D(9000), False)
    assert (new.quantity, new.basis) == (D(25), D(4750))


def test_earliest_loss_matched_first_and_each_share_washes_once() -> None:
    led = build_ledger([buy(date(2024, 1, 2), 10, "1000", tid="a"), buy(date(2024, 1, 3), 10, "1000", tid="b"),
                        sell(date(2024, 3, 1), 10, "800", tid="s1"), sell(date(2024, 3, 2), 10, "700", tid="s2"),
                        buy(date(2024, 3, 10), 15, "1200", tid="r")])
    s1, s2 = led.dispositions()
    assert s1.disallowed == D(200) and s2.disallowed == D(150)  # s2: 5 of its 10 shares matched
    assert s2.gain == D(-150)
    lots = sorted((lot.quantity, lot.basis) for lot in led.open_lots())
    assert lots == [(D(5), D(550)), (D(10), D(1000))]  # the 15 new shares: 10 carry s1's loss, 5 half of s2's


def test_chain_of_wash_sales_carries_the_loss_through_several_lots() -> None:
    led = build_ledger([buy(date(2024, 1, 2), 10, "1000"), sell(date(2024, 2, 1), 10, "900"),
                        buy(date(2024, 2, 5), 10, "850"), sell(date(2024, 2, 20), 10, "800"),
                        buy(date(2024, 3, 1), 10, "820"), sell(date(2024, 6, 1), 10, "1000")])
    first, second, third = led.dispositions()
    assert first.disallowed == D(100)
    assert second.basis == D(950) and second.disallowed == D(150)
    assert third.basis == D(970) and third.gain == D(30)  # 1000 - (820 + 150)
    # every loss deferred, then recognised on the last sale:
    assert sum(d.gain for d in led.dispositions()) == D(900 + 800 + 1000 - 1000 - 850 - 820)


def test_gain_is_never_washed_and_sold_shares_are_not_their_own_replacement() -> None:
    led = build_ledger([buy(date(2024, 1, 2), 10, "1000"), buy(date(2024, 1, 20), 10, "900"),
                        sell(date(2024, 1, 25), 20, "1500")])
    assert all(d.disallowed == 0 for d in led.dispositions())
    led = build_ledger([buy(date(2024, 1, 2), 10, "1000"), sell(date(2024, 1, 25), 10, "1500"),
                        buy(date(2024, 1, 26), 10, "1400")])
    assert led.dispositions()[0].disallowed == 0 and led.open_lots()[0].basis == D(1400)


def test_purchase_31_days_after_does_not_wash_but_30_does() -> None:
    for gap, washed in ((30, True), (31, False)):
        led = build_ledger([buy(date(2024, 1, 2), 1, "100"), sell(date(2024, 3, 1), 1, "50"),
                            buy(date(2024, 3, 1) + timedelta(days=gap), 1, "60")])
        assert (led.dispositions()[0].disallowed > 0) is washed


def test_replacement_in_another_account_of_the_taxpayer() -> None:
    led = build_ledger([buy(date(2024, 1, 2), 1, "100", account="taxable"), sell(date(2024, 3, 1), 1, "50",
                        account="taxable"), buy(date(2024, 3, 5), 1, "60", account="other")])
    assert led.dispositions()[0].disallowed == D(50)
    assert led.open_lots(account="other")[0].basis == D(110)


def test_group_of_substantially_identical_tickers() -> None:
    txns = [buy(date(2024, 1, 2), 1, "100", "X"), sell(date(2024, 3, 1), 1, "50", "X"),
            buy(date(2024, 3, 5), 1, "60", "X.CL")]
    assert build_ledger(txns).dispositions()[0].disallowed == 0
    assert build_ledger(txns, groups={"X.CL": "X"}).dispositions()[0].disallowed == D(50)


def test_holding_period_carries_over_to_long_term() -> None:
    led = build_ledger([buy(date(2023, 1, 3), 1, "100"), sell(date(2023, 12, 1), 1, "50"),
                        buy(date(2023, 12, 10), 1, "60"), sell(date(2024, 3, 1), 1, "200")])
    second = led.dispositions()[1]
    assert second.acquired == date(2023, 1, 12) and second.term == "long"


def test_split_adjusts_lots_and_pending_losses() -> None:
    led = build_ledger([buy(date(2024, 1, 2), 10, "1000"), sell(date(2024, 3, 1), 10, "500"),
                        buy(date(2024, 3, 20), 10, "300")], splits=[Split("X", date(2024, 3, 10), D(2))])
    # the pending 10 loss shares became 20 after the 2:1 split; 10 new shares wash half the loss
    assert led.dispositions()[0].disallowed == D(250)


@pytest.mark.parametrize("bad", [
    lambda led: led.book(sell(date(2024, 2, 1), 11, "1000")),
    lambda led: led.book(buy(date(2023, 12, 31), 1, "10")),
    lambda led: led.book(sell(date(2024, 2, 1), 1, "10", lots=(("nope", D(1)),))),
])
def test_bad_transactions_raise_and_change_nothing(bad: object) -> None:
    led = TaxLedger()
    led.book(buy(date(2024, 1, 2), 10, "1000", tid="b"))
    with pytest.raises(TaxLotError):
        bad(led)  # type: ignore[operator]
    assert [(lot.quantity, lot.basis) for lot in led.open_lots()] == [(D(10), D(1000))]
    assert led.dispositions() == []


def test_split_ratio_zero_and_float_money_are_refused() -> None:
    with pytest.raises(TaxLotError, match="ratio 0 must be positive"):
        Split("X", date(2024, 1, 1), D(0))
    with pytest.raises(TaxLotError, match="float"):
        Transaction("A", "X", date(2024, 1, 1), "buy", D(1), 10.5)  # type: ignore[arg-type]


@st.composite
def histories(draw: st.DrawFn) -> list[Transaction]:
    n = draw(st.integers(2, 25))
    day, held, out = date(2024, 1, 2), {"A": 0, "B": 0}, []
    for i in range(n):
        day += timedelta(days=draw(st.integers(0, 20)))
        account = draw(st.sampled_from(["A", "B"]))
        price = D(draw(st.integers(100, 20000))) / 100
        fees = D(draw(st.integers(0, 500))) / 100
        if held[account] and draw(st.booleans()):
            q = draw(st.integers(1, held[account]))
            held[account] -= q
            out.append(Transaction(account, "X", day, "sell", D(q), price, fees, f"t{i}"))
        else:
            q = draw(st.integers(1, 50))
            held[account] += q
            out.append(Transaction(account, "X", day, "buy", D(q), price, fees, f"t{i}"))
    return out


@st.composite
def splits_within(draw: st.DrawFn, txns: list[Transaction]) -> list[Split]:
    days = sorted({t.trade_date for t in txns})
    picked = draw(st.lists(st.sampled_from(days), max_size=2, unique=True))
    return [Split("X", d, D(draw(st.sampled_from(["2", "3", "0.5", "1.5"])))) for d in picked]


@settings(max_examples=150, deadline=None)
@given(histories(), st.sampled_from(["fifo", "lifo", "hifo", "mintax"]), st.data())
def test_realised_plus_deferred_is_economic_pnl_and_no_basis_negative(txns: list[Transaction], method: str,
                                                                      data: st.DataObject) -> None:
    # splits change share counts; sales are drawn before them, so scale them to stay within the position
    splits = data.draw(splits_within(txns)) if data.draw(st.booleans()) else []
    if splits:
        txns = _after_splits(txns, splits)
    led = build_ledger(txns, splits, method=method)  # type: ignore[arg-type]
    realised = sum((d.gain for d in led.dispositions()), D(0))
    economic = led.net_proceeds - sum((d.cost for d in led.dispositions()), D(0))
    assert realised - led.deferred_losses() == economic  # deferred losses are negative P&L
    spent = sum((t.gross + t.fees for t in txns if t.side == "buy"), D(0))
    assert spent == sum((d.cost for d in led.dispositions()), D(0)) + sum((lot.cost for lot in led.open_lots()), D(0))
    assert all(lot.basis >= 0 and lot.adjustment >= 0 for lot in led.open_lots())
    assert all(d.disallowed <= d.loss for d in led.dispositions())
    no_wash = build_ledger(txns, splits, method=method, wash_sales=False)  # type: ignore[arg-type]
    no_wash_economic = no_wash.net_proceeds - sum((d.cost for d in no_wash.dispositions()), D(0))
    assert sum((d.gain for d in no_wash.dispositions()), D(0)) == no_wash_economic


def _after_splits(txns: list[Transaction], splits: list[Split]) -> list[Transaction]:
    """Scale each transaction's shares by the splits effective on or before its date (so sales stay covered)."""
    out = []
    for t in txns:
        factor = D(1)
        for sp in splits:
            if sp.effective <= t.trade_date:
                factor *= sp.ratio
        if t.side == "sell":  # floor to keep within the split position; skip what rounds to nothing
            q = (t.quantity * factor).to_integral_value(rounding="ROUND_FLOOR")
            if q <= 0:
                continue
        else:
            q = t.quantity * factor
        out.append(Transaction(t.account, t.ticker, t.trade_date, t.side, q, t.price, t.fees, t.txn_id))
    return out
