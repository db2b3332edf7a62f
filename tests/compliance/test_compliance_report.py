"""Carino-linked Brinson, selection vs timing, and `tftrade compliance report` on a saved run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tftrade.analytics.attribution import brinson
from tftrade.cli import app
from tftrade.compliance.attribution import carino_factor, link_brinson, selection_timing
from tftrade.compliance.errors import ComplianceError
from tftrade.compliance.report import parse_period


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-0.2, 0.2), st.floats(-0.2, 0.2), st.floats(0.0, 1.0)), min_size=1, max_size=6))
def test_linked_effects_add_up_to_the_compounded_active_return(periods: list[tuple[float, float, float]]) -> None:
    results, rp, rb = [], [], []
    for a, b, w in periods:
        pw, bw = np.array([w, 1 - w]), np.array([0.5, 0.5])
        r = np.array([a, b])
        res = brinson(pw, bw, r, r * 0.5, np.array(["s1", "s2"]))
        results.append(res)
        rp.append(float(pw @ r))
        rb.append(float(bw @ (r * 0.5)))
    linked = link_brinson(results, rp, rb, [f"p{i}" for i in range(len(periods))])
    assert sum(linked.linked_totals().values()) == pytest.approx(linked.total_active, abs=1e-12)


def test_carino_known_value_and_single_period_is_plain_brinson() -> None:
    # k_t for R=10 %, B=5 %: (ln 1.1 - ln 1.05)/0.05
    assert carino_factor(0.10, 0.05) == pytest.approx((np.log(1.1) - np.log(1.05)) / 0.05)
    res = brinson([0.6, 0.4], [0.5, 0.5], [0.1, 0.02], [0.08, 0.03], ["a", "b"])
    linked = link_brinson([res], [0.6 * 0.1 + 0.4 * 0.02], [0.5 * 0.08 + 0.5 * 0.03], ["q"])
    assert linked.linked_totals()["selection"] == pytest.approx(res.totals()["selection"])


def test_selection_vs_timing_recovers_planted_skill() -> None:
    rng = np.random.default_rng(0)
    m = rng.normal(0, 0.01, 400)
    r = 0.0005 + 1.0 * m + 3.0 * m**2
    labels = ["a"] * 200 + ["b"] * 200
    splits = selection_timing(r, m, labels)
    for s in splits:
        assert s.selection == pytest.approx(0.0005 * 200)
        assert s.timing == pytest.approx(3.0 * float(np.sum(m[:200] ** 2 if s.period == "a" else m[200:] ** 2)))
        assert abs(s.residual) < 1e-9 and abs(s.exposure) < 1e-9


def test_period_parsing() -> None:
    assert parse_period("2026q4")[1].year == 2027 and parse_period("2026-12")[2] == "week"
    with pytest.raises(ComplianceError, match="not a quarter"):
        parse_period("Q5-2026")


def _save_run(home: Path) -> str:
    run_id = "bt-20260401T000000000000-test"
    path = home / "backtests" / run_id
    path.mkdir(parents=True)
    ts = pd.date_range("2026-01-02", "2026-03-31", freq="B", tz="UTC")
    n, t = 4, len(ts)
    rng = np.random.default_rng(1)
    close = 100 * np.cumprod(1 + rng.normal(0.0005, 0.01, (t, n)), axis=0)
    weights = np.tile([0.3, 0.3, 0.2, 0.1], (t, 1))
    weights[40:, 0] = 0.32  # drift over the 30 % sector... and single-stock limits (5 % default)
    rets = (weights * np.vstack([np.zeros(n), close[1:] / close[:-1] - 1])).sum(axis=1)
    equity = 1e6 * np.cumprod(1 + rets)
    np.savez_compressed(path / "arrays.npz", timestamps=ts.as_unit("ns").asi8, equity=equity, cash=equity * 0.1,
                        weights=weights,
                        beta=np.full(t, 1.0), benchmark=np.full(t, np.nan), close=close,
                        tickers=np.array(["A", "B", "C", "D"]), sectors=np.array(["tech", "tech", "fin", "fin"]))
    pd.DataFrame({"timestamp": [ts[1], ts[10], ts[20]], "ticker": ["A", "A", "A"], "action": ["BUY", "SELL", "BUY"],
                  "quantity": [100, 100, 50], "price": [100.0, 90.0, 95.0], "pnl": [None, -1000.0, None],
                  "commission": [1.0, 1.0, 0.5], "order_id": ["o1", "o2", "o3"],
                  "rationale": ["", "", ""]}).to_parquet(path / "trades.parquet")
    pd.DataFrame({"timestamp": [ts[5], ts[50]], "ticker": ["A", "B"], "action": ["resize", "reject"],
                  "requested": [100.0, 50.0], "approved": [40.0, 0.0],
                  "reasons": ["max_weight 0.05", "sector tech 0.31 > 0.25"]}).to_parquet(path / "gate.parquet")
    (path / "summary.json").write_text(json.dumps({"run_id": run_id, "strategy": "test", "timeframe": "1day",
                                                   "metrics": {}, "config": {"initial_cash": 1e6}}))
    return run_id


def test_compliance_report_cli(initialized_home: Path) -> None:
    _isolated_home = initialized_home
    run_id = _save_run(_isolated_home)
    runner = CliRunner()
    result = runner.invoke(app, ["compliance", "report", "--period", "2026Q1", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["run_id"] == run_id and out["summary"]["bars"] > 55
    s = out["summary"]
    assert s["breaches"] > 0 and s["gate"]["by_action"] == {"resize": 1, "reject": 1}
    assert s["audit"]["ok"] and len(s["audit"]["head_hash"]) == 64
    # 100 bought at 100 (+1), sold at 90 (-1): 1,002 loss, washed by the 50 bought 10 bars later (half of it)
    assert s["tax"]["disallowed_in_year"] == "501.00000000" and s["tax"]["deferred_losses"] == "501.00000000"
    assert s["tax"]["short_term_gains"] == "-501.00000000" and s["tax"]["tax"] == "0.00"
    html = Path(out["report"]).read_text()
    for text in ("Carino", "Treynor", "Risk-limit usage", "single-stock weight", "2026-02", "cash", "VaR",
                 "Tax alpha", "after-tax return"):
        assert text in html
    result = runner.invoke(app, ["compliance", "report", "--period", "2025Q1"])
    assert result.exit_code == 1 and "0 bars in 2025Q1" in result.output
    # the spelling, `tftrade report compliance --period Q`, is the same command
    alias = runner.invoke(app, ["report", "compliance", "--period", "2026Q1", "--run", run_id, "--json"])
    assert alias.exit_code == 0, alias.output
    assert json.loads(alias.stdout)["summary"] == out["summary"]
    result = runner.invoke(app, ["report", "compliance", "--period", "2025Q1"])
    assert result.exit_code == 1 and "0 bars in 2025Q1" in result.output
    result = runner.invoke(app, ["report", "compliance", "--period", "2026Q9", "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["error"]
