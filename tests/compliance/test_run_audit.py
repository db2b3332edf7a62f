"""A backtest run's audit chain is saved with the run, atomically: folder, trades and chain or nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from tftrade.backtest import MarketData
from tftrade.backtest.config import BacktestConfig
from tftrade.backtest.engine import Backtest
from tftrade.backtest.runs import load_run, runs_dir, save_run
from tftrade.backtest.workflow import BacktestRun
from tftrade.compliance.audit_log import AuditLog
from tftrade.compliance.errors import AuditError
from tftrade.compliance.run_audit import BacktestAudit
from tftrade.risk.gate import GateLimits, RiskGate
from tftrade.store.trades import read_trades
from tftrade.strategy import AccountState, MarketView, Targets

DAY = 86_400_000_000_000


class Swing:
    def __init__(self) -> None:
        self.k = 0

    def decide(self, view: MarketView, account: AccountState) -> Targets | None:
        self.k += 1
        return Targets(np.array([0.2, 0.05, 0.1]) if self.k % 2 else np.array([0.05, 0.2, 0.0]))


def _run(run_id: str) -> BacktestRun:
    rng = np.random.default_rng(11)
    t, n = 50, 3
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (t, n)), axis=0))
    m = MarketData(np.arange(1, t + 1, dtype=np.int64) * DAY, ("AA", "BB", "CC"), ("X", "Y", "Z"), close,
                   close * 1.01, close * 0.99, close, np.full((t, n), 1e9), vix=np.full(t, 15.0))
    audit = BacktestAudit(run_id, strategy_version=run_id, model_version="m1")
    gate = RiskGate(GateLimits(max_weight=0.1, max_sector_weight=1.0, beta_min=-9, beta_max=9, max_var=1.0))
    bt = Backtest(m, Swing(), config=BacktestConfig(warmup=21, rebalance_every=4, stop_loss=None, take_profit=None,
                                                     strategy_version=run_id),
                  gate=gate, audit=audit.recorder(m.tickers, gated=True))
    return BacktestRun(bt.run(), None, None, "swing", audit=audit)


def test_the_chain_is_stored_with_the_run_and_names_the_runs_orders(tmp_path: Path, any_engine: Engine) -> None:
    sqlite_engine = any_engine
    run = _run("bt-20240101T000000000000-swing")
    save_run(tmp_path, run, "bt-20240101T000000000000-swing", sqlite_engine)
    log = AuditLog(sqlite_engine, "bt-20240101T000000000000-swing")
    saved = load_run(tmp_path, "bt-20240101T000000000000-swing")
    assert log.verify(expect_head=saved.summary["audit_head"]).ok
    assert saved.summary["audit_entries"] == len(log.entries()) > 0
    for oid in saved.trades["order_id"]:
        assert [e.kind for e in log.story(str(oid))][-1] == "fill"
    resized = [e for e in log.entries(kinds=["risk_check"]) if e.payload["action"] == "resize"]
    assert resized and all(e.order_ids for e in resized)
    assert {e.payload["model_version"] for e in log.entries(kinds=["decision"])} == {"m1"}


def test_a_chain_that_cannot_be_stored_leaves_no_folder_and_no_trades(tmp_path: Path, sqlite_engine: Engine) -> None:
    rid = "bt-20240101T000000000001-swing"
    AuditLog(sqlite_engine, rid).append("note", {"text": "squatter"})  # the chain name is taken
    with pytest.raises(AuditError, match="already has entries"):
        save_run(tmp_path, _run(rid), rid, sqlite_engine)
    assert not (runs_dir(tmp_path) / rid).exists()
    assert not list(runs_dir(tmp_path).iterdir())
    assert (read_trades(sqlite_engine)["strategy_version"] == rid).sum() == 0
    assert len(AuditLog(sqlite_engine, rid).entries()) == 1


def test_a_tft_backtest_records_the_walk_forward_models_version_with_every_decision(
        tmp_path: Path, sqlite_engine: Engine) -> None:
    """The backtest trains its own TFT: its decisions name those weights (they were ``None``)."""
    from tftrade.backtest.workflow import ForecastSetup, backtest_store
    from tftrade.data.ingest import ingest_synthetic
    from tftrade.data.synthetic import SyntheticConfig, generate_market
    from tftrade.forecast.identity import PREFIX

    ingest_synthetic(sqlite_engine, generate_market(SyntheticConfig(n_tickers=3, days=4, seed=3)))
    rid = "bt-20240101T000000000002-tft"
    audit = BacktestAudit(rid, strategy_version=rid)
    run = backtest_store(sqlite_engine, timeframe="1min", strategy="tft", audit=audit,
                         forecast=ForecastSetup(epochs=1, max_samples=400, seed=0, force=True))
    assert run.forecasts is not None and run.forecasts.model_version.startswith(f"{PREFIX}-")
    save_run(tmp_path, run, rid, sqlite_engine)
    log = AuditLog(sqlite_engine, rid)
    assert log.verify().ok
    decided = log.entries(kinds=["decision"])
    assert len(decided) == run.result.decisions > 0
    assert {e.payload["model_version"] for e in decided} == {run.forecasts.model_version}
