"""`tftrade backtest` keeps its own audit chain; `tftrade audit verify/show` read it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tftrade.cli import app

pytestmark = pytest.mark.usefixtures("initialized_home")

runner = CliRunner()


def _json(args: list[str]) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_backtest_run_saves_its_audit_chain_and_audit_commands_read_it() -> None:
    _json(["ingest", "synthetic", "--tickers", "4", "--days", "2", "--seed", "5"])
    bt = _json(["backtest", "--strategy", "sma", "--timeframe", "1min", "--rebalance-every", "5"])
    chain = bt["audit_chain"]
    assert chain == bt["run_id"] and bt["audit_entries"] > bt["trades"] > 0
    summary = json.loads((Path(bt["path"]) / "summary.json").read_text())
    assert summary["audit_chain"] == chain and summary["audit_entries"] == bt["audit_entries"]
    report = _json(["audit", "verify", "--chain", chain, "--expect-head", summary["audit_head"]])
    assert report["ok"] and report["entries"] == bt["audit_entries"]
    trades = pd.read_parquet(Path(bt["path"]) / "trades.parquet")
    decided = trades[~trades["rationale"].fillna("").str.contains("stop-loss|take-profit")]
    oid = str(decided["order_id"].iloc[-1])
    story = _json(["audit", "show", "--order", oid, "--chain", chain])
    kinds = [e["kind"] for e in story["entries"]]
    assert kinds[0] == "decision" and "risk_check" in kinds and "order_intent" in kinds and kinds[-1] == "fill"
    assert story["entries"][0]["payload"]["strategy_version"] == bt["run_id"]
    # the live chain is untouched
    assert _json(["audit", "verify"])["entries"] == 0


def test_the_wash_sale_setting_blocks_washing_orders_and_the_run_records_why() -> None:
    _json(["ingest", "synthetic", "--tickers", "4", "--days", "2", "--seed", "5"])
    args = ["backtest", "--strategy", "sma", "--timeframe", "1min", "--rebalance-every", "1", "--stops", "off",
            "--beta-min", "-3", "--max-position", "0.3"]  # a gate that lets the crossovers sell
    off = _json(args)
    block = _json([*args, "--set", "risk.wash_sale=block"])
    gate = pd.read_parquet(Path(block["path"]) / "gate.parquet")
    wash = gate[gate["reasons"].str.startswith("wash sale:")]
    assert len(wash) > 0 and set(wash["action"]) <= {"reject"}
    assert block["trades"] < off["trades"]
    assert json.loads((Path(block["path"]) / "summary.json").read_text())["settings"]["risk"]["wash_sale"] == "block"
    bad = runner.invoke(app, [*args, "--set", "risk.wash_sale=sometimes", "--json"])
    assert bad.exit_code == 1 and "risk.wash_sale" in bad.output


def test_the_run_and_its_report_carry_the_tax_alpha(tmp_path: Path) -> None:
    _json(["ingest", "synthetic", "--tickers", "4", "--days", "2", "--seed", "5"])
    bt = _json(["backtest", "--strategy", "sma", "--timeframe", "1min", "--rebalance-every", "1", "--stops", "off",
                "--beta-min", "-3", "--max-position", "0.3"])
    tax = bt["tax_alpha"]
    assert tax["pre_tax_return"] == pytest.approx(bt["total_return"]) and tax["sales"] > 0
    assert tax["after_tax_return"] <= tax["pre_tax_return"]
    html = Path(_json(["report", "--out", str(tmp_path / "a.html")])["report"]).read_text()
    assert "<h2>Tax alpha</h2>" in html and "Tax alpha: absent" not in html and "before tax" in html
    # a run saved without the figures gets them computed from its trades when reported
    summary_path = Path(bt["path"]) / "summary.json"
    summary = json.loads(summary_path.read_text())
    del summary["tax_alpha"]
    summary_path.write_text(json.dumps(summary))
    html = Path(_json(["report", "--out", str(tmp_path / "b.html")])["report"]).read_text()
    assert "Tax alpha: absent" not in html and f"{tax['pre_tax_return']:+.2%}" in html
