"""AlpacaBroker against the loopback fake, driven by alpaca-py itself: the faults of issue 16.

After each fault: no duplicate order at the broker, and the order's status is right.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import pytest
from alpaca_harness import FakeAlpaca, make_alpaca, wait_for
from sqlalchemy import Engine

from tftrade.core.orders import Order
from tftrade.execution.errors import BrokerUnavailable, DuplicateOrderIdError, ExecutionError, UnknownOrderError
from tftrade.execution.journal import OrderJournal
from tftrade.execution.journaled import JournaledBroker
from tftrade.execution.ratelimit import TokenBucket
from tftrade.execution.reconcile import reconcile


def test_market_order_round_trip_uses_real_shapes(fake_alpaca: FakeAlpaca) -> None:
    with make_alpaca(fake_alpaca) as b:
        st = b.submit(Order("a-1", "AAPL", 3.0))
        assert st.state == "new"
        o = fake_alpaca.order_by_cid("a-1")
        assert len(o["id"]) == 36 and o["qty"] == "3" and o["time_in_force"] == "day"
        fake_alpaca.trade("AAPL", 187.25)
        wait_for(lambda: b.cached_status("a-1").state == "filled")
        [x] = b.drain_executions()
        assert (x.fill.quantity, x.fill.price, x.complete) == (3.0, 187.25, True)
        assert x.execution_id == f"{o['id']}@3"
        assert b.positions() == {"AAPL": 3.0}
        assert b.cash() == pytest.approx(1_000_000 - 3 * 187.25)


def test_limit_and_time_in_force_and_fractional(fake_alpaca: FakeAlpaca) -> None:
    with make_alpaca(fake_alpaca, stream=False, time_in_force="gtc") as b:
        b.submit(Order("a-2", "AAPL", -2.0, "limit", 150.5))
        o = fake_alpaca.order_by_cid("a-2")
        assert (o["type"], o["side"], o["limit_price"], o["time_in_force"]) == ("limit", "sell", "150.5", "gtc")
        with pytest.raises(ExecutionError, match=r"fractional quantity 0\.5 needs time in force 'day'"):
            b.submit(Order("a-3", "AAPL", 0.5))
        assert fake_alpaca.orders_for("a-3") == 0
        b.submit(Order("a-4", "AAPL", 0.5), time_in_force="day")
        assert fake_alpaca.order_by_cid("a-4")["qty"] == "0.5"


@pytest.mark.parametrize("fault", ["504_after_accept", "reset_after_accept", "delay_after_accept"])
def test_accepted_but_answer_lost_is_looked_up_not_resent(fake_alpaca: FakeAlpaca, fault: str) -> None:
    fake_alpaca.inject(fault, delay_s=3.0)
    with make_alpaca(fake_alpaca, stream=False) as b:
        st = b.submit(Order("a-5", "AAPL", 7.0))
        assert st.state == "new"
        assert fake_alpaca.orders_for("a-5") == 1 and fake_alpaca.post_attempts == 1
        assert ("GET", "/v2/orders:by_client_order_id") in fake_alpaca.requests


@pytest.mark.parametrize("fault", ["reset_before_accept", "500"])
def test_not_accepted_is_looked_up_then_sent_again_under_the_same_id(fake_alpaca: FakeAlpaca, fault: str) -> None:
    fake_alpaca.inject(fault)
    with make_alpaca(fake_alpaca, stream=False) as b:
        assert b.submit(Order("a-6", "MSFT", 1.0)).state == "new"
        assert fake_alpaca.orders_for("a-6") == 1 and fake_alpaca.post_attempts == 2
        lookups = [r for r in fake_alpaca.requests if r[1] == "/v2/orders:by_client_order_id"]
        assert len(lookups) == 1  # looked up before the second POST


def test_outcome_unknown_when_broker_stays_down(fake_alpaca: FakeAlpaca, sqlite_engine: Engine) -> None:
    fake_alpaca.inject("500", times=50)
    fake_alpaca.inject("500", method="GET", path="/v2/orders", times=50)
    with make_alpaca(fake_alpaca, stream=False) as b:
        jb = JournaledBroker(b, OrderJournal(sqlite_engine), name="alpaca")
        with pytest.raises(BrokerUnavailable):
            jb.submit(Order("a-7", "MSFT", 1.0))
        assert jb.journal.order("a-7").state == "unknown"  # type: ignore[union-attr]
        fake_alpaca.faults.clear()
        report = reconcile(jb)
        assert report.abandoned == ("a-7",) and fake_alpaca.orders_for("a-7") == 0
        assert jb.journal.story("a-7") == ["intent", "submitted", "unknown", "abandoned"]


def test_duplicate_client_order_id_means_already_there(fake_alpaca: FakeAlpaca) -> None:
    with make_alpaca(fake_alpaca, stream=False) as first, make_alpaca(fake_alpaca, stream=False) as second:
        first.submit(Order("a-8", "AAPL", 2.0))
        assert second.submit(Order("a-8", "AAPL", 2.0)).state == "new"  # 422 'must be unique' -> look-up
        assert fake_alpaca.orders_for("a-8") == 1 and fake_alpaca.post_attempts == 2
        with pytest.raises(DuplicateOrderIdError, match="a-8"):
            second.submit(Order("a-8", "AAPL", 5.0))


def test_429_waits_for_the_reset_header(fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.inject("429", method="GET", path="/v2/positions", reset_in_s=1.0)
    slept: list[float] = []
    bucket = TokenBucket(per_minute=60_000, sleep=lambda s: (slept.append(s), time.sleep(s))[1])
    with make_alpaca(fake_alpaca, stream=False, bucket=bucket) as b:
        assert b.positions() == {}
    assert len(slept) == 1 and 0.0 < slept[0] <= 1.5  # until X-RateLimit-Reset (whole seconds), not a guess
    assert [r for r in fake_alpaca.requests if r[1] == "/v2/positions"] == [("GET", "/v2/positions")] * 2


def test_5xx_on_reads_retried_with_jitter_and_bounded(fake_alpaca: FakeAlpaca) -> None:
    sleeps: list[float] = []
    fake_alpaca.inject("500", method="GET", path="/v2/account", times=2)
    with make_alpaca(fake_alpaca, stream=False, sleeps=sleeps) as b:
        assert b.cash() == 1_000_000.0
        assert len(sleeps) == 2 and all(0 <= s <= 0.05 for s in sleeps)
        fake_alpaca.inject("500", method="GET", path="/v2/account", times=10)
        with pytest.raises(BrokerUnavailable, match="account: no answer after 4 attempts"):
            b.cash()


def test_fill_on_the_stream_before_the_rest_answer(fake_alpaca: FakeAlpaca, sqlite_engine: Engine) -> None:
    fake_alpaca.prices["AAPL"] = Decimal("99.5")
    fake_alpaca.fill_before_response = True
    with make_alpaca(fake_alpaca) as b:
        jb = JournaledBroker(b, OrderJournal(sqlite_engine), name="alpaca")
        st = jb.submit(Order("a-9", "AAPL", 4.0))
        assert st.state == "filled"
        wait_for(lambda: len(b._pending) > 0)
        time.sleep(0.1)  # the stream's copy of the same fill arrives too
        fills = jb.drain_fills()
        assert [(f.quantity, f.price) for f in fills] == [(4.0, 99.5)]  # once, not twice
        assert jb.journal.story("a-9") == ["intent", "submitted", "accepted", "fill"]


def test_stream_disconnect_during_fills_is_recovered(fake_alpaca: FakeAlpaca, sqlite_engine: Engine) -> None:
    with make_alpaca(fake_alpaca) as b:
        jb = JournaledBroker(b, OrderJournal(sqlite_engine), name="alpaca")
        jb.submit(Order("a-10", "AAPL", 10.0))
        fake_alpaca.trade("AAPL", 100.0, 3.0)
        wait_for(lambda: len(b._pending) == 1)
        fake_alpaca.drop_stream()
        fake_alpaca.trade("AAPL", 101.0, 3.0)  # nobody listening: lost on the stream
        fake_alpaca.wait_listening()  # alpaca-py reconnects
        fake_alpaca.trade("AAPL", 102.0, 4.0)
        wait_for(lambda: b.cached_status("a-10").state == "filled")
        fills = jb.drain_fills()
        assert sum(f.quantity for f in fills) == 10.0  # the lost fill is inside the cumulative jump
        assert reconcile(jb).in_sync
        assert jb.journal.positions() == {"AAPL": Decimal(10)} and b.positions() == {"AAPL": 10.0}
        vwap = sum(f.quantity * f.price for f in fills) / 10.0
        assert vwap == pytest.approx((3 * 100 + 3 * 101 + 4 * 102) / 10)


def test_unknown_client_id_and_cancel_of_filled(fake_alpaca: FakeAlpaca) -> None:
    with make_alpaca(fake_alpaca, stream=False) as b:
        with pytest.raises(UnknownOrderError):
            b.status("nope")
        b.submit(Order("a-11", "AAPL", 1.0))
        fake_alpaca.trade("AAPL", 10.0)
        assert b.cancel("a-11").state == "filled"


def test_secrets_never_in_errors_or_logs(fake_alpaca: FakeAlpaca, caplog: pytest.LogCaptureFixture,
                                        sqlite_engine: Engine) -> None:
    caplog.set_level(logging.DEBUG)
    secret = fake_alpaca.secret_key
    fake_alpaca.secret_key = "something-else-entirely"  # our keys are now wrong: 401 everywhere
    with make_alpaca(fake_alpaca, stream=False, secret_key=secret) as b:
        jb = JournaledBroker(b, OrderJournal(sqlite_engine), name="alpaca")
        with pytest.raises(ExecutionError) as err:
            jb.submit(Order("a-12", "AAPL", 1.0))
        fake_alpaca.secret_key = secret
        fake_alpaca.inject("500", times=10)
        fake_alpaca.inject("reset_before_accept", method="GET", times=10)
        with pytest.raises(BrokerUnavailable) as err2:
            jb.submit(Order("a-13", "AAPL", 1.0))
    texts = [str(err.value), str(err2.value), caplog.text, repr(b.config), str(b.config.model_dump())]
    with sqlite_engine.connect() as conn:
        texts += [str(row) for t in ("order_intents", "order_events")
                  for row in conn.exec_driver_sql(f"SELECT * FROM {t}").all()]
    for text in texts:
        assert secret not in text and fake_alpaca.key_id not in text


def test_missing_keys_is_one_clear_error() -> None:
    from tftrade.execution.alpaca import AlpacaBroker
    from tftrade.execution.settings import AlpacaConfig

    with pytest.raises(ExecutionError, match="TFTRADE_VENDORS__ALPACA_KEY_ID"):
        AlpacaBroker(AlpacaConfig())


def test_orders_are_paged(fake_alpaca: FakeAlpaca) -> None:
    with make_alpaca(fake_alpaca, stream=False) as b:
        for i in range(1203):
            fake_alpaca._create({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market",
                                 "time_in_force": "day", "client_order_id": f"p-{i}"})
        got = b.orders()
        assert len(got) == 1203 and len({o.client_order_id for o in got}) == 1203
        assert len(b.orders(open_only=True)) == 1203


@pytest.mark.parametrize("fault", ["504_after_accept", "reset_before_accept", "reset_after_accept", "429", "500",
                                   "fill_before_response", "duplicate", "stream_drop"])
def test_after_each_fault_the_three_invariants_hold(fake_alpaca: FakeAlpaca, sqlite_engine: Engine,
                                                    fault: str) -> None:
    """No duplicate order at the broker; ledger == broker positions after reconciliation; the journal tells all."""
    fake_alpaca.prices["AAPL"] = Decimal(50)
    if fault == "fill_before_response":
        fake_alpaca.fill_before_response = True
    elif fault not in ("duplicate", "stream_drop"):
        fake_alpaca.inject(fault, reset_in_s=0.0)
    with make_alpaca(fake_alpaca) as b:
        jb = JournaledBroker(b, OrderJournal(sqlite_engine), name="alpaca")
        order = Order("inv-1", "AAPL", 6.0)
        if fault == "duplicate":
            with make_alpaca(fake_alpaca, stream=False) as other:
                other.submit(order)  # e.g. a previous incarnation got it in
        jb.submit(order)
        if fault == "stream_drop":
            fake_alpaca.drop_stream()
        if fault != "fill_before_response":
            fake_alpaca.trade("AAPL", 50.0)  # stream_drop: nobody listening, the fill is not pushed
        if fault == "stream_drop":
            fake_alpaca.wait_listening()  # alpaca-py reconnects; the broker re-reads its open orders
            wait_for(lambda: bool(jb.drain_fills()), timeout=15)
        else:
            wait_for(lambda: b.cached_status("inv-1").state == "filled")
            jb.drain_fills()
        report = reconcile(jb)
        assert fake_alpaca.orders_for("inv-1") == 1
        assert report.in_sync
        assert jb.journal.positions() == {"AAPL": Decimal(6)} and b.positions() == {"AAPL": 6.0}
        story = jb.journal.story("inv-1")
        assert story[:2] == ["intent", "submitted"] and story[-1] in ("fill", "adopted_fill")
        assert sum(1 for e in story if e in ("fill", "partial_fill", "adopted_fill")) == 1
        assert "accepted" in story


@pytest.mark.parametrize(("event", "state"), [("rejected", "rejected"), ("expired", "cancelled")])
def test_rejects_and_expiries_on_the_stream_are_journaled(fake_alpaca: FakeAlpaca, sqlite_engine: Engine,
                                                          event: str, state: str) -> None:
    with make_alpaca(fake_alpaca) as b:
        jb = JournaledBroker(b, OrderJournal(sqlite_engine), name="alpaca")
        jb.submit(Order("s-1", "AAPL", 5.0, "limit", 10.0))
        fake_alpaca.finish("s-1", event)
        wait_for(lambda: b.cached_status("s-1").state == state)
        assert jb.drain_fills() == []
        o = jb.journal.order("s-1")
        assert o is not None and o.state == state and not o.is_open and o.reason == event
        assert jb.journal.story("s-1") == ["intent", "submitted", "accepted", "cancelled" if state == "cancelled"
                                           else "rejected"]
