"""``tftrade orders | positions | reconcile | kill`` against the fake Alpaca and the paper journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alpaca_harness import FakeAlpaca, make_alpaca, wait_for
from typer.testing import CliRunner

from tftrade.cli import app
from tftrade.core.orders import Order
from tftrade.execution.errors import TradingHalted
from tftrade.execution.journal import OrderJournal
from tftrade.execution.journaled import JournaledBroker
from tftrade.execution.killswitch import KillSwitch
from tftrade.store.engine import make_engine
from tftrade.store.migrate import upgrade

runner = CliRunner()


@pytest.fixture
def env(fake_alpaca: FakeAlpaca, _isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAlpaca:
    monkeypatch.setenv("TFTRADE_VENDORS__ALPACA_URL", fake_alpaca.rest_url)
    monkeypatch.setenv("TFTRADE_VENDORS__ALPACA_STREAM_URL", fake_alpaca.stream_url)
    monkeypatch.setenv("TFTRADE_VENDORS__ALPACA_KEY_ID", fake_alpaca.key_id)
    monkeypatch.setenv("TFTRADE_VENDORS__ALPACA_SECRET_KEY", fake_alpaca.secret_key)
    assert runner.invoke(app, ["db", "init"]).exit_code == 0
    return fake_alpaca


def journaled(fake: FakeAlpaca, home: Path) -> JournaledBroker:
    eng = make_engine(f"sqlite:///{home / 'tftrade.db'}")
    upgrade(eng)
    return JournaledBroker(make_alpaca(fake), OrderJournal(eng), name="alpaca")


def run(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_orders_and_positions_show_both_views_and_differences(env: FakeAlpaca, _isolated_home: Path) -> None:
    jb = journaled(env, _isolated_home)
    jb.submit(Order("cli-1", "AAPL", 5.0))
    jb.submit(Order("cli-2", "MSFT", 2.0, "limit", 10.0))
    env.trade("AAPL", 100.0)
    wait_for(lambda: jb.inner.cached_status("cli-1").state == "filled")
    jb.drain_fills()
    env.add_external_order("TSLA", 1.0, 5.0)
    env.set_position("NVDA", 3.0, 50.0)
    jb.close()

    out = run("orders", "--broker", "alpaca")
    assert [r["client_order_id"] for r in out["journal"]] == ["cli-2"]
    assert out["journal"][0]["broker_state"] == "new" and out["differences"] == []
    assert [r["ticker"] for r in out["external"]] == ["TSLA"]
    assert len(run("orders", "--broker", "alpaca", "--all")["journal"]) == 2

    pos = run("positions", "--broker", "alpaca")
    assert {r["ticker"]: (r["ledger"], r["broker"]) for r in pos["positions"]} == {
        "AAPL": ("5", "5"), "NVDA": ("0", "3")}
    assert [d["ticker"] for d in pos["differences"]] == ["NVDA"]

    rec = run("reconcile", "--broker", "alpaca")
    assert rec["in_sync"] is False and rec["halted"].startswith("reconciliation")


def test_kill_cancels_and_refuses(env: FakeAlpaca, _isolated_home: Path) -> None:
    jb = journaled(env, _isolated_home)
    jb.submit(Order("cli-3", "AAPL", 5.0, "limit", 10.0))
    jb.close()
    out = run("kill", "--broker", "alpaca", "--reason", "test drill")
    assert out["cancelled"] == ["cli-3"] and Path(out["kill_file"]).exists()
    assert env.order_by_cid("cli-3")["status"] == "canceled"
    jb = journaled(env, _isolated_home)
    jb.kill_switch = KillSwitch(Path(out["kill_file"]))
    with pytest.raises(TradingHalted, match="test drill"):
        jb.submit(Order("cli-4", "AAPL", 1.0))
    jb.close()
    assert run("kill", "--release")["released"] is True and not Path(out["kill_file"]).exists()


def test_live_endpoint_without_opt_in_refused_in_one_line(env: FakeAlpaca, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFTRADE_VENDORS__ALPACA_URL", "https://api.alpaca.markets")
    result = runner.invoke(app, ["reconcile", "--broker", "alpaca", "--policy", "correct"])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "live trading on https://api.alpaca.markets refused" in lines[0]
    assert env.secret_key not in result.output and env.key_id not in result.output


def test_paper_views_are_the_journal(_isolated_home: Path) -> None:
    assert runner.invoke(app, ["db", "init"]).exit_code == 0
    out = run("orders")
    assert out == {"broker": "paper", "journal": [], "broker_orders": [], "differences": [], "external": []}
    assert run("positions")["positions"] == []
    assert run("kill", "--reason", "drill")["engaged"] is True
    bad = runner.invoke(app, ["orders", "--broker", "ib", "--json"])
    assert bad.exit_code == 1 and "unknown broker 'ib'" in bad.stdout


@pytest.mark.parametrize("command", [["orders"], ["positions"], ["reconcile"]])
def test_wrong_alpaca_keys_are_one_clear_error_not_an_internal_one(env: FakeAlpaca, command: list[str]) -> None:
    env.secret_key = "the-keys-were-rotated"  # the configured secret is now wrong: 401 on every request
    result = runner.invoke(app, [*command, "--broker", "alpaca", "--json"])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    error = json.loads(lines[0])
    assert error["kind"] == "broker_auth", error
    assert "Alpaca rejected the API keys" in error["error"] and "TFTRADE_VENDORS__ALPACA_SECRET_KEY" in error["error"]
    assert "internal" not in error["error"] and "fake-secret" not in result.output and env.key_id not in result.output
