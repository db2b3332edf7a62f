"""Kill switch, live-trading opt-ins, reconciliation policies, order care and the rate limiter."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from alpaca_harness import FakeAlpaca, make_alpaca, wait_for
from pydantic import SecretStr
from sqlalchemy import Engine

from tftrade.core.config import Settings
from tftrade.core.orders import Order
from tftrade.execution.care import OrderCare
from tftrade.execution.costs import CostModel
from tftrade.execution.errors import ExecutionError, LiveTradingRefused, TradingHalted
from tftrade.execution.factory import check_live, make_broker
from tftrade.execution.journal import OrderJournal
from tftrade.execution.journaled import JournaledBroker
from tftrade.execution.killswitch import KillSwitch, kill
from tftrade.execution.paper import PaperBroker
from tftrade.execution.ratelimit import RetryPolicy, TokenBucket
from tftrade.execution.reconcile import Reconciler, reconcile
from tftrade.execution.settings import AlpacaConfig, ExecutionConfig


def paper(engine: Engine, switch: KillSwitch | None = None) -> JournaledBroker:
    return JournaledBroker(PaperBroker(cash=1e6, costs=CostModel.none()), OrderJournal(engine), name="paper",
                           kill_switch=switch)


def bar(jb: JournaledBroker, ts: int, prices: dict[str, float]) -> None:
    p = np.array(list(prices.values()))
    jb.on_bar(ts, list(prices), p, p, p, p, np.full(len(p), np.inf))


# -- kill switch ---------------------------------------------------------------------------------
def test_kill_cancels_open_orders_refuses_new_ones_and_flattens(sqlite_engine: Engine, tmp_path: Path) -> None:
    switch = KillSwitch(tmp_path / "KILL")
    jb = paper(sqlite_engine, switch)
    jb.submit(Order("k-1", "AAPL", 10.0))
    bar(jb, 1, {"AAPL": 100.0})
    jb.submit(Order("k-2", "AAPL", 5.0, "limit", 50.0))
    report = kill(jb, switch, reason="drawdown breaker: -12% from peak", flatten=True, now_ns=7)
    assert report.cancelled == ("k-2",) and report.flatten_orders == ("kill-AAPL-7",)
    assert (tmp_path / "KILL").read_text().startswith("drawdown breaker")
    bar(jb, 2, {"AAPL": 101.0})
    assert jb.positions() == {} and jb.journal.positions() == {}
    with pytest.raises(TradingHalted, match="refused: kill switch engaged: drawdown breaker"):
        jb.submit(Order("k-3", "AAPL", 1.0))
    assert jb.journal.story("k-3") == ["intent", "refused"]
    assert jb.journal.order("k-2").state == "cancelled"  # type: ignore[union-attr]
    switch.release()
    assert not (tmp_path / "KILL").exists() and jb.submit(Order("k-4", "AAPL", 1.0)).state == "new"


def test_kill_file_written_by_another_process_stops_this_one(sqlite_engine: Engine, tmp_path: Path) -> None:
    jb = paper(sqlite_engine, KillSwitch(tmp_path / "KILL"))
    assert jb.submit(Order("f-1", "AAPL", 1.0)).state == "new"
    (tmp_path / "KILL").write_text("operator: market halt\n")  # the supervisor / `tftrade kill`
    with pytest.raises(TradingHalted, match="operator: market halt"):
        jb.submit(Order("f-2", "AAPL", 1.0))


def test_kill_switch_setting(sqlite_engine: Engine, tmp_path: Path) -> None:
    class S:  # Settings with the execution section (TFTRADE_EXECUTION__KILL_SWITCH=true)
        execution: ClassVar[dict[str, object]] = {"kill_switch": True, "reconcile_policy": "adopt"}
        home = tmp_path

    cfg = ExecutionConfig.from_settings(S())
    assert cfg.kill_file == tmp_path / "KILL" and cfg.reconcile_policy == "adopt"
    jb = paper(sqlite_engine, KillSwitch(cfg.kill_file, engaged=cfg.kill_switch))
    with pytest.raises(TradingHalted, match="by setting"):
        jb.submit(Order("s-1", "AAPL", 1.0))


def test_kill_against_alpaca_cancels_external_orders_too(fake_alpaca: FakeAlpaca, sqlite_engine: Engine) -> None:
    with make_alpaca(fake_alpaca) as b:
        jb = JournaledBroker(b, OrderJournal(sqlite_engine), name="alpaca")
        jb.submit(Order("ka-1", "AAPL", 5.0, "limit", 10.0))
        fake_alpaca.add_external_order("MSFT", 3.0, 5.0)
        report = kill(jb, jb.kill_switch, reason="test")
        assert report.cancelled == ("ka-1",) and report.broker_cancelled == 1
        assert b.orders(open_only=True) == []


# -- live trading opt-ins ---------------------------------------------------------------------------
def test_live_trading_needs_every_opt_in() -> None:
    live = AlpacaConfig(url="https://api.alpaca.markets", key_id=SecretStr("AKLIVE123"), secret_key=SecretStr("s3cr3t"))
    allowed = Settings(live_trading=True)
    assert "LIVE trading" in check_live(live, allowed, True)
    with pytest.raises(LiveTradingRefused, match=r"missing TFTRADE_LIVE_TRADING=true$"):
        check_live(live, Settings(), True)
    with pytest.raises(LiveTradingRefused, match=r"missing --live$"):
        check_live(live, allowed, False)
    paper_keys = live.model_copy(update={"key_id": SecretStr("PKPAPER1")})
    with pytest.raises(LiveTradingRefused, match="live keys") as e:
        check_live(paper_keys, allowed, True)
    assert "\n" not in str(e.value) and "s3cr3t" not in str(e.value) and "PKPAPER1" not in str(e.value)
    with pytest.raises(LiveTradingRefused, match="not the live endpoint"):
        check_live(AlpacaConfig(), allowed, True)
    assert check_live(AlpacaConfig(), Settings(), False).startswith("paper trading on https://paper-api")


def test_make_broker(tmp_path: Path, sqlite_engine: Engine, fake_alpaca: FakeAlpaca) -> None:
    lines: list[str] = []
    jb = make_broker("paper", Settings(home=tmp_path), engine=sqlite_engine, announce=lines.append)
    assert isinstance(jb.inner, PaperBroker) and lines == ["paper trading in process (cash 1,000,000.00)"]
    assert jb.kill_switch.file == tmp_path / "KILL"
    with pytest.raises(ExecutionError, match="unknown broker 'ib'"):
        make_broker("ib", Settings(home=tmp_path), engine=sqlite_engine)
    with pytest.raises(LiveTradingRefused):
        make_broker("paper", Settings(home=tmp_path), engine=sqlite_engine, live=True)
    cfg = AlpacaConfig(url=fake_alpaca.rest_url, stream_url=fake_alpaca.stream_url)

    class Vendors:  # what Settings.vendors holds once the coordinator adds the two URL fields
        alpaca_url = cfg.url
        alpaca_stream_url = cfg.stream_url
        alpaca_key_id = SecretStr(fake_alpaca.key_id)
        alpaca_secret_key = SecretStr(fake_alpaca.secret_key)

    class S:
        vendors = Vendors()
        home = tmp_path
        live_trading = False

    jb = make_broker("alpaca", S(), engine=sqlite_engine, stream=False, announce=lines.append)
    try:
        assert lines[-1].startswith("paper trading on http://127.0.0.1")
        assert jb.submit(Order("mb-1", "AAPL", 1.0)).state == "new"
    finally:
        jb.close()


# -- reconciliation policies -------------------------------------------------------------------------
def test_reconcile_reports_external_orders_and_halts(fake_alpaca: FakeAlpaca, sqlite_engine: Engine) -> None:
    with make_alpaca(fake_alpaca) as b:
        jb = JournaledBroker(b, OrderJournal(sqlite_engine), name="alpaca")
        ext = fake_alpaca.add_external_order("MSFT", 3.0, 5.0)
        report = reconcile(jb)
        assert [o.client_order_id for o in report.external_orders] == [ext["client_order_id"]]
        assert not report.in_sync and report.halted
        with pytest.raises(TradingHalted, match="reconciliation: 0 position difference"):
            jb.submit(Order("r-1", "AAPL", 1.0))


def test_reconcile_corrects_with_tagged_orders(fake_alpaca: FakeAlpaca, sqlite_engine: Engine) -> None:
    fake_alpaca.set_position("NVDA", 4.0, 120.0)
    fake_alpaca.prices["NVDA"] = Decimal(121)
    with make_alpaca(fake_alpaca) as b:
        jb = JournaledBroker(b, OrderJournal(sqlite_engine), name="alpaca")
        report = reconcile(jb, policy="correct")
        [cid] = report.corrections
        assert cid.startswith("reconcile-NVDA-") and jb.journal.intent(cid).tag == "reconcile"  # type: ignore[union-attr]
        assert fake_alpaca.order_by_cid(cid)["side"] == "sell" and fake_alpaca.order_by_cid(cid)["qty"] == "4"
        fake_alpaca.trade("NVDA", 121.0)
        wait_for(lambda: b.cached_status(cid).state == "filled")
        jb.drain_fills()
        assert fake_alpaca.position_map() == {}
        # the ledger did not hold NVDA; the corrective sell is journaled, so the ledger shows what it did
        assert jb.journal.positions() == {"NVDA": Decimal(-4)}


def test_reconciler_runs_on_start_and_on_a_timer(sqlite_engine: Engine) -> None:
    now = [0.0]
    alerts: list[object] = []
    jb = paper(sqlite_engine)
    r = Reconciler(jb, interval_s=60, clock=lambda: now[0], on_alert=alerts.append)
    assert r.maybe_run() is not None and r.maybe_run() is None
    now[0] = 61
    jb.inner.submit(Order("outside", "AAPL", 2.0))  # behind the journal's back
    bar(jb, 1, {"AAPL": 10.0})
    assert r.maybe_run() is not None and len(alerts) == 1


# -- order care ----------------------------------------------------------------------------------
def test_stale_limit_is_cancelled_and_replaced(sqlite_engine: Engine) -> None:
    jb = paper(sqlite_engine)
    jb.submit(Order("l-1", "AAPL", 5.0, "limit", 90.0, created_ns=1))
    care = OrderCare(jb, stale_limit_s=60)
    assert care.sweep(30 * 10**9).replaced == ()
    report = care.sweep(61 * 10**9, reprice=lambda t: 99.0)
    assert report.replaced == (("l-1", "l-1-r1"),)
    assert jb.journal.story("l-1")[-2:] == ["cancelled", "replaced"]
    assert jb.journal.intent("l-1-r1").limit_price == Decimal(99)  # type: ignore[union-attr]
    report = care.sweep(200 * 10**9, reprice=lambda t: 98.0)
    assert report.replaced == (("l-1-r1", "l-1-r2"),)


@pytest.mark.parametrize("policy", ["cancel", "carry"])
def test_partial_fill_never_dangles(sqlite_engine: Engine, policy: str) -> None:
    jb = JournaledBroker(PaperBroker(cash=1e6, costs=CostModel(slippage_bps=0, impact_coefficient=0,
                                                               max_volume_share=1.0)),
                         OrderJournal(sqlite_engine), name="paper")
    jb.submit(Order("p-1", "AAPL", 10.0, created_ns=1))
    p = np.array([10.0])
    jb.on_bar(1, ["AAPL"], p, p, p, p, np.array([4.0]))
    care = OrderCare(jb, partial_timeout_s=60, partial_policy=policy)
    assert care.sweep(10 * 10**9) == care.sweep(10 * 10**9)  # not yet
    report = care.sweep(61 * 10**9)
    if policy == "cancel":
        assert report.cancelled == ("p-1",) and jb.journal.order("p-1").state == "cancelled"  # type: ignore[union-attr]
        assert jb.positions() == {"AAPL": 4.0} == {k: float(v) for k, v in jb.journal.positions().items()}
    else:
        assert report.carried == ("p-1",) and jb.journal.order("p-1").state == "carried"  # type: ignore[union-attr]
        assert care.sweep(62 * 10**9).carried == ()  # carried once, explicitly


# -- rate limiter ----------------------------------------------------------------------------------
def test_token_bucket_holds_200_per_minute_across_users() -> None:
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    bucket = TokenBucket(per_minute=200, clock=lambda: now[0], sleep=sleep)
    for _ in range(1000):
        bucket.acquire()
    assert 60 * (1000 - 200) / 200 - 1e-6 <= now[0] <= 60 * (1000 - 200) / 200 + 1e-6  # 200 burst, then 200/min
    bucket.block_for(5.0)
    t0 = now[0]
    bucket.acquire()
    assert now[0] - t0 >= 5.0


def test_retry_policy_bounds() -> None:
    import random

    policy = RetryPolicy(max_attempts=3, base_s=1.0, cap_s=4.0, max_rate_limit_wait_s=10.0, rng=random.Random(0))
    waits = [policy.backoff(k) for k in range(10)]
    assert all(0 <= w <= 4.0 for w in waits) and len(set(waits)) == 10  # jittered
    assert policy.rate_limit_wait(105.0, 100.0, 0) == 5.0 and policy.rate_limit_wait(1e9, 0.0, 0) == 10.0
    with pytest.raises(ExecutionError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ExecutionError):
        TokenBucket(per_minute=0)


def test_reconcile_with_broker_down_halts(fake_alpaca: FakeAlpaca, sqlite_engine: Engine) -> None:
    with make_alpaca(fake_alpaca, stream=False) as b:
        jb = JournaledBroker(b, OrderJournal(sqlite_engine), name="alpaca")
        fake_alpaca.inject("500", method="GET", path="/v2/", times=100)
        report = reconcile(jb)
        assert not report.in_sync and report.unreachable == ("<broker>",) and "unreachable" in jb.halt_reason()
        fake_alpaca.faults.clear()
        assert reconcile(jb).in_sync and jb.halt_reason() == ""


def test_reconcile_correct_sends_nothing_while_the_kill_switch_is_engaged(fake_alpaca: FakeAlpaca,
                                                                         sqlite_engine: Engine,
                                                                         tmp_path: Path) -> None:
    fake_alpaca.set_position("NVDA", 4.0, 120.0)  # the ledger holds none: correct would sell 4
    switch = KillSwitch(file=tmp_path / "KILL")
    switch.engage("drawdown breaker: -12.0% from peak")
    with make_alpaca(fake_alpaca) as b:
        jb = JournaledBroker(b, OrderJournal(sqlite_engine), name="alpaca", kill_switch=switch)
        report = reconcile(jb, policy="correct")
        assert report.corrections == () and not report.in_sync
        assert "kill switch engaged" in report.halted and "1 position difference(s) not corrected" in report.halted
        assert fake_alpaca.created == 0  # no order reached the broker
        switch.release()
        assert reconcile(jb, policy="correct").corrections  # released: the correction goes out
