"""`tftrade demo`, `backtest` and `report` as a user runs them (reduced sizes)."""

from __future__ import annotations

import json
import re
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


def _trade_rows(strategy_version: str) -> int:
    from tftrade.core.config import load_settings
    from tftrade.store.engine import make_engine
    from tftrade.store.trades import read_trades

    trades = read_trades(make_engine(load_settings().resolved_database_url()))
    return int((trades["strategy_version"] == strategy_version).sum())


def test_demo_runs_the_main_job_end_to_end_and_is_idempotent_on_data() -> None:
    args = ["demo", "--tickers", "6", "--days", "4", "--epochs", "1", "--max-samples", "300"]
    first = _json(args)
    assert first["ingest"]["inserted"] == 8 * 4 * 390 and first["ingest"]["quarantined"] == 0
    assert first["comments"]["inserted"] > 0 and first["sentiment_1min"]["rows_written"] > 0
    bt = first["backtest"]
    assert bt["decisions"] > 10 and bt["trades"] > 0 and bt["trades_stored"] == _trade_rows(bt["run_id"])
    assert set(bt["metrics"]) >= {"sharpe", "sortino", "max_drawdown", "alpha", "beta", "turnover"}
    assert bt["benchmark"] == "^MKT" and bt["benchmark_metrics"]["sharpe"] is not None
    assert any("relaxed budget" in n and "stays in cash" in n for n in bt["notes"])  # 6 names x 5 %: 70 % cash
    assert next(iter(first["backtest"])) == "banner"  # the no-views banner (or None) leads the summary
    assert bt["compare"] == ["stops", "ridge", "no-sentiment"]
    assert [c["key"] for c in bt["comparison"]] == ["this", "stops", "ridge", "no-sentiment"]
    assert bt["comparison"][1]["stop_exits"] == 0 and bt["stops_effect"]["text"].startswith("Stops: ")
    assert {"sentiment_score", "sentiment_momentum"} <= set(bt["comparison"][3]["model"]["inputs_left_out"])
    run = Path(bt["path"])
    forecasts = pd.read_parquet(run / "forecasts.parquet")
    assert len(forecasts) > 0 and forecasts["realised"].notna().mean() > 0.9
    assert (forecasts["q10"] <= forecasts["q90"]).all()
    html = Path(first["report"]).read_text()
    assert "Forecast fan chart, horizon 5" in html and "Variable importance: absent" not in html
    assert "Sentiment vs price: absent" not in html
    assert "sentiment leads returns by design" in html and "ridge on past returns, no sentiment" in html
    assert "TFT retrained without sentiment" in html and "same run, stops off" in html and "pp net return" in html
    assert "NaN" not in (run / "summary.json").read_text()
    assert re.search(r"<script[^>]*\bsrc=", html) is None  # plotly inlined: works offline
    again = _json(args)
    assert again["ingest"]["inserted"] == 0 and again["comments"]["inserted"] == 0
    assert again["backtest"]["run_id"] != bt["run_id"]


def test_backtest_sma_then_report_latest(tmp_path: Path) -> None:
    _json(["ingest", "synthetic", "--tickers", "5", "--days", "3", "--seed", "2"])
    bt = _json(["backtest", "--strategy", "sma", "--timeframe", "1min", "--rebalance-every", "1"])
    assert bt["bars"] == 3 * 390 and bt["trades"] > 0 and bt["trades_stored"] == _trade_rows(bt["run_id"])
    rep = _json(["report", "--out", str(tmp_path / "r.html")])
    assert rep["run_id"] == bt["run_id"] and (tmp_path / "r.html").stat().st_size == rep["bytes"]
    assert "Forecast fan chart: absent" in (tmp_path / "r.html").read_text()
    assert "not annualised" in (tmp_path / "r.html").read_text()  # 3 sessions: period returns lead
    _json(["report", "--out", str(tmp_path / "r1.html"), "--annualise-min-sessions", "1"])
    assert "not annualised" not in (tmp_path / "r1.html").read_text()


def test_backtest_compares_with_stops_off_by_default_and_compare_selects_runs() -> None:
    """The summary showed the stops' realised P&L only; by default the run is compared with the same run without
    stops and the summary holds the difference. `--compare none` skips comparison runs."""
    _json(["ingest", "synthetic", "--tickers", "4", "--days", "2", "--seed", "2"])
    bt = _json(["backtest", "--strategy", "sma", "--timeframe", "1min", "--rebalance-every", "1"])
    assert bt["compare"] == ["stops"] and [c["key"] for c in bt["comparison"]] == ["this", "stops"]
    effect = bt["stops_effect"]
    assert effect["return_diff"] == pytest.approx(bt["total_return"] - bt["comparison"][1]["total_return"])
    summary = json.loads((Path(bt["path"]) / "summary.json").read_text())
    assert summary["stops_effect"] == effect and summary["compare"] == ["stops"]
    text = runner.invoke(app, ["backtest", "--strategy", "sma", "--timeframe", "1min"])
    assert text.exit_code == 0 and "Stops: " in text.output and "pp net return" in text.output
    assert "Max drawdown (%)" in text.output and "max_drawdown" not in text.output  # labels, not snake_case keys
    assert re.search(r"Total return \(%\)\s*│\s*[+-]\d+\.\d\d%", text.output)  # a percent under a "%" label
    assert "Turnover (× capital / session)" in text.output  # 2 sessions: per session, not per year
    none = _json(["backtest", "--strategy", "sma", "--timeframe", "1min", "--compare", "none"])
    assert none["compare"] == [] and none["comparison"] is None and none["stops_effect"] is None


def test_backtest_flags_override_the_configuration_and_the_run_records_them(tmp_path: Path) -> None:
    _json(["ingest", "synthetic", "--tickers", "4", "--days", "2", "--seed", "2"])
    bt = _json(["backtest", "--strategy", "sma", "--timeframe", "1min", "--max-position", "0.2", "--stops", "off",
                "--commission-per-share", "0.005", "--set", "risk.max_var=0.05", "--risk-free-rate", "0.04"])
    summary = json.loads((Path(bt["path"]) / "summary.json").read_text())
    assert summary["settings"]["risk"]["max_position"] == 0.2 and summary["settings"]["risk"]["max_var"] == 0.05
    assert summary["settings"]["stops"]["mode"] == "off" and summary["stops"]["stop_loss_exits"] == 0
    assert summary["settings"]["costs"]["commission_per_share"] == 0.005 and summary["costs"]["commission"] > 0
    assert summary["risk_free_rate"] == 0.04 and summary["settings"]["risk"]["risk_free_rate"] == 0.04


@pytest.mark.parametrize(("args", "message"), [
    (["backtest", "--max-position", "5"], "invalid configuration at 'risk.max_position'"),
    (["backtest", "--set", "risk.max_postion=0.1"], "invalid configuration at 'risk.max_postion'"),
    (["backtest", "--stops", "sometimes"], "invalid configuration at 'stops.mode'"),
    (["report"], "no backtest has been run yet"),
    (["report", "bt-nope"], "no backtest run bt-nope"),
    (["backtest", "--strategy", "magic"], "unknown strategy 'magic'"),
    (["backtest", "--strategy", "sma", "--compare", "ridge"], "--compare ridge needs forecasts"),
    (["backtest", "--compare", "stops,vibes"], "unknown comparison vibes"),
    (["backtest", "NOSUCH", "--strategy", "sma", "--timeframe", "1min"], "no 1min bars stored for NOSUCH"),
    (["backtest", "--strategy", "sma", "--timeframe", "1min", "--start", "2030-01-02"],
     "leaves fewer than two bars to trade; the last stored 1min bar is"),
])
def test_errors_are_one_line(args: list[str], message: str) -> None:
    if args[0] == "backtest":
        _json(["ingest", "synthetic", "--tickers", "2", "--days", "1"])
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
