"""The optimiser's optional tax-of-selling term: a sale must earn its tax."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pytest

from tftrade.core.config import RiskSettings
from tftrade.portfolio.config import OptimizerConfig
from tftrade.portfolio.errors import PortfolioError
from tftrade.portfolio.optimizer import TaxTerm, optimize
from tftrade.portfolio.tax import OpenLot, tax_cost, tax_schedule

CFG = OptimizerConfig(max_weight=1.0, max_sector_weight=1.0, risk_aversion=2.0, transaction_cost_bps=0.0,
                      turnover_penalty=0.0)
MU = np.array([0.00, 0.06])  # B now looks better than A
COV = np.array([[0.04, 0.0], [0.0, 0.04]])
PREV = np.array([0.5, 0.5])
EQUITY = 1_000_000.0
ON = date(2024, 6, 3)


def _schedule(basis_per_share: str, acquired: date) -> TaxTerm:
    lot = OpenLot("A", "l1", Decimal(5_000), Decimal(basis_per_share) * 5_000, acquired, acquired)
    return TaxTerm((tax_schedule([lot], Decimal(100), ON, 0.37, 0.20), None), EQUITY)  # A: $500,000 held


def test_a_large_short_term_gain_holds_the_sale_back() -> None:
    plain = optimize(MU, COV, prev_weights=PREV, config=CFG).weights
    taxed = optimize(MU, COV, prev_weights=PREV, config=CFG, tax=_schedule("10", date(2024, 3, 1))).weights
    assert plain[0] < 0.4  # without tax it sells a good part of A
    assert taxed[0] > plain[0] + 0.05  # the 33 % tax per dollar sold (0.37 x 90 % gain) keeps more of A
    sold_plain, sold_taxed = PREV[0] - plain[0], PREV[0] - taxed[0]
    term = _schedule("10", date(2024, 3, 1))
    assert tax_cost(taxed, PREV, term.schedules, EQUITY) < tax_cost(plain, PREV, term.schedules, EQUITY)
    assert sold_taxed < sold_plain


def test_long_term_gains_cost_less_to_sell_than_short_term() -> None:
    short = optimize(MU, COV, prev_weights=PREV, config=CFG, tax=_schedule("10", date(2024, 3, 1))).weights
    long_ = optimize(MU, COV, prev_weights=PREV, config=CFG, tax=_schedule("10", date(2022, 3, 1))).weights
    assert long_[0] < short[0]  # 20 % instead of 37 %: more of A is sold


def test_a_loss_or_no_lots_changes_nothing() -> None:
    plain = optimize(MU, COV, prev_weights=PREV, config=CFG).weights
    loss = optimize(MU, COV, prev_weights=PREV, config=CFG, tax=_schedule("120", date(2024, 3, 1))).weights
    none = optimize(MU, COV, prev_weights=PREV, config=CFG, tax=TaxTerm((None, None), EQUITY)).weights
    np.testing.assert_allclose(loss, plain, atol=2e-4)
    np.testing.assert_array_equal(none, plain)


def test_the_limits_still_hold_with_the_tax_term() -> None:
    cfg = CFG.model_copy(update={"max_weight": 0.45})
    w = optimize(MU, COV, prev_weights=np.array([0.45, 0.45]), config=cfg, tax=_schedule("10", date(2024, 3, 1)))
    assert (w.weights <= 0.45 + 1e-9).all() and w.weights.sum() == pytest.approx(0.9, abs=1e-4)


def test_bad_tax_terms_and_the_settings() -> None:
    with pytest.raises(PortfolioError, match="one schedule"):
        optimize(MU, COV, prev_weights=PREV, config=CFG, tax=TaxTerm((None,), EQUITY))
    with pytest.raises(PortfolioError, match="positive equity"):
        optimize(MU, COV, prev_weights=PREV, config=CFG, tax=TaxTerm((None, None), 0.0))
    r = RiskSettings()
    assert (r.tax_aware, r.tax_rate_short, r.tax_rate_long) == (False, 0.37, 0.20)
    with pytest.raises(ValueError, match="tax_rate_short"):
        RiskSettings(tax_rate_short=1.5)
