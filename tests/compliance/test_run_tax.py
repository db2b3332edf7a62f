"""A run's tax alpha: gains by holding period, per-year netting, washed and deferred losses."""

from __future__ import annotations

from decimal import Decimal as D

import pandas as pd
import pytest

from tftrade.compliance.errors import TaxReportError
from tftrade.compliance.run_tax import run_tax_alpha


def _trades(rows: list[tuple[str, str, str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.to_datetime([r[0] + " 15:00" for r in rows], utc=True),
                         "ticker": [r[1] for r in rows], "action": [r[2] for r in rows],
                         "quantity": [r[3] for r in rows], "price": [r[4] for r in rows],
                         "commission": [0.0] * len(rows), "order_id": [f"o{i}" for i in range(len(rows))]})


def test_short_and_long_term_gains_are_taxed_at_their_rates() -> None:
    t = _trades([("2022-01-03", "A", "BUY", 10, 100.0), ("2023-02-01", "A", "SELL", 10, 150.0),  # long +500
                 ("2023-03-01", "B", "BUY", 10, 50.0), ("2023-04-03", "B", "SELL", 10, 70.0)])  # short +200
    s = run_tax_alpha(t, 10_000.0, 0.07)
    assert (s["long_term_gains"], s["short_term_gains"]) == ("500.00", "200.00")
    assert s["tax"] == "174.00"  # 0.20 * 500 + 0.37 * 200
    assert s["after_tax_return"] == pytest.approx(0.07 - 0.0174)
    assert [y["year"] for y in s["years"]] == [2023]


def test_each_year_nets_on_its_own_and_a_loss_offsets_ordinary_income() -> None:
    # a 2023 loss of 200 (under the $3,000 limit) is deducted from 2023's ordinary income at 37 %;
    # nothing is carried, so 2024's gain is taxed whole
    t = _trades([("2023-01-03", "A", "BUY", 10, 100.0), ("2023-06-01", "A", "SELL", 10, 80.0),
                 ("2024-01-03", "B", "BUY", 10, 100.0), ("2024-06-03", "B", "SELL", 10, 120.0)])
    s = run_tax_alpha(t, 10_000.0, 0.0)
    assert s["short_term_gains"] == "0.00" and s["tax"] == "0.00" and s["loss_deducted"] == "200.00"
    assert [(y["year"], y["tax"]) for y in s["years"]] == [(2023, "-74.00"), (2024, "74.00")]


def test_a_loss_beyond_the_limit_is_carried_with_its_character() -> None:
    # 2023: short-term loss 10,000 -> 3,000 deducted (at 37 %), 7,000 carried; 2024: a 5,000 long-term gain
    # nets against the short-term carryover (Schedule D lines 6/7 and 15/16): -2,000 -> 2,000 deducted
    t = _trades([("2023-01-03", "A", "BUY", 100, 200.0), ("2023-06-01", "A", "SELL", 100, 100.0),
                 ("2023-01-03", "B", "BUY", 100, 100.0), ("2024-06-03", "B", "SELL", 100, 150.0)])
    s = run_tax_alpha(t, 100_000.0, 0.0, ordinary_rate=D("0.30"))
    (y23, y24) = s["years"]
    assert (y23["loss_deducted"], y23["carryover_short_term"], y23["tax"]) == ("3000.00", "7000.00", "-900.00")
    assert (y24["long_term_gains"], y24["loss_deducted"], y24["carryover_short_term"]) == ("5000.00", "2000.00",
                                                                                         "0.00")
    assert y24["tax"] == "-600.00" and s["tax"] == "-1500.00" and s["carryover"] == {"short_term": "0.00",
                                                                                      "long_term": "0.00"}
    assert s["after_tax_return"] == pytest.approx(0.015)  # the offset is worth 1,500 on 100,000
    mfs = run_tax_alpha(t, 100_000.0, 0.0, status="mfs")
    assert mfs["years"][0]["loss_deducted"] == "1500.00" and mfs["years"][0]["carryover_short_term"] == "8500.00"


def test_a_washed_loss_is_deferred_into_the_replacement_shares() -> None:
    t = _trades([("2024-01-02", "A", "BUY", 10, 100.0), ("2024-01-10", "A", "SELL", 10, 90.0),
                 ("2024-01-20", "A", "BUY", 10, 91.0), ("2024-03-01", "B", "SHORT", 5, 10.0)])
    s = run_tax_alpha(t, 10_000.0, -0.01)
    assert s["disallowed_in_year"] == "100.00" and s["deferred_losses"] == "100.00"
    assert s["short_term_gains"] == "0.00" and s["tax"] == "0.00" and s["skipped_short_trades"] == 0


def test_short_sales_are_taxed_when_covered() -> None:
    t = _trades([("2024-02-01", "B", "SHORT", 10, 50.0), ("2024-03-01", "B", "COVER", 10, 40.0)])
    s = run_tax_alpha(t, 10_000.0, 0.01)
    assert s["short_term_gains"] == "100.00" and s["tax"] == "37.00"


def test_bad_inputs() -> None:
    with pytest.raises(TaxReportError, match="start equity"):
        run_tax_alpha(_trades([]), 0.0, 0.0)
    oversold = _trades([("2024-01-02", "A", "SELL", 10, 90.0)])
    assert "cannot be booked" in run_tax_alpha(oversold, 1000.0, 0.0)["error"]
