"""Tax-aware trading: the pre-trade wash-sale rule, the optimiser's tax-cost term, loss harvesting, tax alpha."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import cvxpy as cp
import numpy as np
import pytest

from tftrade.compliance.audit_log import MemoryAuditLog
from tftrade.compliance.ledger import build_ledger
from tftrade.compliance.tax_alpha import YearGains, method_comparison, tax_alpha_summary
from tftrade.compliance.transactions import Transaction
from tftrade.compliance.wash_rule import ProposedOrder, WashSaleRule
from tftrade.portfolio.errors import PortfolioError
from tftrade.portfolio.tax import OpenLot, plan_harvest, tax_cost, tax_cost_expression, tax_schedule


def T(day: date, side: str, q: int, price: str, ticker: str = "X") -> Transaction:
    return Transaction("A", ticker, day, side, D(q), D(price))  # type: ignore[arg-type]


def test_buy_after_a_loss_is_blocked_or_resized_and_recorded() -> None:
    ledger = build_ledger([T(date(2025, 1, 2), "buy", 100, "50"), T(date(2025, 3, 3), "sell", 100, "40")])
    order = ProposedOrder("X-1", "X", D(60), D("41"))
    sink = MemoryAuditLog()
    (v,) = WashSaleRule(ledger, "A").check([order], date(2025, 3, 20), sink)
    assert (v.action, v.approved, v.disallowed_if_traded) == ("reject", 0, D(600))
    assert "wash a loss" in v.reason and sink.story("X-1")[0].payload["rule"] == "wash_sale"
    (v,) = WashSaleRule(ledger, "A", mode="resize", max_disallowed=D(250)).check([order], date(2025, 3, 20))
    assert (v.action, v.approved) == ("resize", D(25))  # 25 shares x $10 of loss each
    (v,) = WashSaleRule(ledger, "A").check([order], date(2025, 4, 3))  # 31 days later: no wash
    assert v.action == "accept" and v.approved == 60
    assert len(ledger.open_lots()) == 0  # the rule worked on a copy


def test_loss_sale_after_a_recent_buy_is_blocked_gain_sale_passes() -> None:
    ledger = build_ledger([T(date(2024, 1, 2), "buy", 100, "50"), T(date(2025, 3, 3), "buy", 30, "40")])
    sell = ProposedOrder("X-2", "X", D(-100), D("35"))
    (v,) = WashSaleRule(ledger, "A").check([sell], date(2025, 3, 20))
    assert v.action == "reject" and v.disallowed_if_traded == D(450) and "selling at a loss" in v.reason
    (v,) = WashSaleRule(ledger, "A", "resize", max_disallowed=D(150)).check([sell], date(2025, 3, 20))
    assert (v.action, v.approved) == ("resize", D(-10))
    (v,) = WashSaleRule(ledger, "A").check([ProposedOrder("X-3", "X", D(-100), D("60"))], date(2025, 3, 20))
    assert v.action == "accept"
    # selling beyond the position is judged on its long part: all 130 shares go, the recent 30 with them,
    # so nothing is left to replace the sold shares and no loss is washed; a short from flat is not judged
    (v,) = WashSaleRule(ledger, "A").check([ProposedOrder("X-4", "X", D(-200), D("35"))], date(2025, 3, 20))
    assert (v.action, v.approved, v.disallowed_if_traded) == ("accept", D(-200), 0)
    (v,) = WashSaleRule(ledger, "A").check([ProposedOrder("Y-1", "Y", D(-5), D("35"))], date(2025, 3, 20))
    assert v.action == "accept" and v.approved == -5


def test_tax_schedule_and_convex_cvxpy_term_agree() -> None:
    on = date(2025, 6, 1)
    lots = [OpenLot("X", "a", D(10), D(500), date(2023, 1, 3), date(2023, 1, 3)),   # LT gain 500
            OpenLot("X", "b", D(10), D(1200), date(2025, 1, 3), date(2025, 1, 3)),  # ST loss 200
            OpenLot("X", "c", D(10), D(900), date(2025, 2, 3), date(2025, 2, 3))]   # ST gain 100
    s = tax_schedule(lots, D(100), on, 0.37, 0.20)
    assert s.rates == tuple(sorted(s.rates)) and s.rates[0] < 0  # the loss lot goes first
    assert s.tax(3000) == pytest.approx(-200 * 0.37 + 500 * 0.20 + 100 * 0.37)
    w = cp.Variable(2)
    w0, equity = np.array([0.03, 0.5]), 100_000.0
    expr = tax_cost_expression(w, w0, [s, None], equity)
    assert expr.is_convex()
    w.value = np.array([0.0, 0.5])
    clipped = 1000 * 0 + 500 * 0.20 + 100 * 0.37  # the loss tranche's benefit is clipped to 0 in the convex term
    assert expr.value == pytest.approx(clipped / equity)
    assert tax_cost(np.array([0.0, 0.5]), w0, [s, None], equity) == pytest.approx(s.tax(3000) / equity)


def test_loss_harvesting_with_a_substitute() -> None:
    on = date(2025, 11, 10)
    lots = [OpenLot("SPY", "s1", D(100), D(50000), date(2025, 1, 2), date(2025, 1, 2)),
            OpenLot("QQQ", "q1", D(10), D(4000), date(2025, 1, 2), date(2025, 1, 2)),
            OpenLot("IWM", "i1", D(10), D(3000), date(2025, 1, 2), date(2025, 1, 2)),
            OpenLot("IWM", "i2", D(5), D(1000), date(2025, 11, 1), date(2025, 11, 1))]
    prices = {"SPY": D(450), "VOO": D(410), "QQQ": D(420), "IWM": D(200), "VTWO": D(80)}
    plan = plan_harvest(lots, prices, on, substitutes={"SPY": "VOO", "IWM": "VTWO"})
    (trade,) = plan.trades
    assert (trade.ticker, trade.loss, trade.substitute, trade.substitute_shares) == ("SPY", D(5000), "VOO", D(109))
    assert trade.no_repurchase_until == date(2025, 12, 11)
    assert dict(plan.skipped)["IWM"].startswith("bought on 2025-11-01")
    with pytest.raises(PortfolioError, match="substantially identical"):
        plan_harvest(lots, prices, on, substitutes={"SPY": "VOO"}, groups={"VOO": "SP500", "SPY": "SP500"})


def test_tax_alpha_and_method_comparison() -> None:
    g = YearGains(D(1000), D(-300), D(0), 2)
    assert g.tax((D("0.37"), D("0.20"))) == D("259.00")  # 700 short-term net after the long-term loss
    s = tax_alpha_summary(0.10, D(100_000), g, D(50))
    assert s["after_tax_return"] == pytest.approx(0.10 - 0.00259)
    txns = [T(date(2023, 1, 3), "buy", 10, "100"), T(date(2024, 6, 3), "buy", 10, "200"),
            T(date(2024, 9, 3), "sell", 10, "150")]
    cmp = method_comparison(txns, [], 2024, chosen="mintax")
    rows = {r["method"]: r for r in cmp["methods"]}
    assert rows["fifo"]["long_term"] == D(500) and rows["hifo"]["short_term"] == D(-500)
    assert rows["mintax"]["tax"] == 0 and cmp["tax_saved_vs_fifo"] == D("100.00")
