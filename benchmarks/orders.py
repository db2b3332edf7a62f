"""Benchmark: order round trip and reconciliation against the loopback fake Alpaca (prints, never asserts).

1. **Round trip** (``--orders N``): decision → journaled intent → POST through alpaca-py →
   ``accepted`` journaled (the submit returns), then the fake executes the order and the fill
   comes back on the ``trade_updates`` WebSocket and is journaled (``filled``). p50/p99 of both
   legs, and of the journal writes alone. The fake answers at once, so this is our own latency
   (client, HTTP on loopback, journal commits) — the spec's "< 50 ms excluding the broker's
   own time". The journal is a SQLite file (``--db`` for another URL, e.g. PostgreSQL).
2. **Reconciliation** (``--positions 500 --recon-orders 5000``): a journal and an account with
   that many filled orders over that many tickers; time ``reconcile()`` (paged order read,
   positions, ledger comparison), in sync; then again after a restart with 10 % of the fills
   missing from the journal (they are adopted).

``--db URL`` must be a scratch database: its journal tables are emptied first.

Run with ``PYTHONPATH=src python benchmarks/orders.py``. On a shared, loaded machine the
figures are upper bounds; say so when quoting them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.alpaca_server import FakeAlpaca

from tftrade.core.orders import Order
from tftrade.execution.alpaca import AlpacaBroker
from tftrade.execution.journal import OrderJournal
from tftrade.execution.journaled import JournaledBroker
from tftrade.execution.ratelimit import TokenBucket
from tftrade.execution.reconcile import reconcile
from tftrade.execution.settings import AlpacaConfig
from tftrade.store.engine import make_engine
from tftrade.store.migrate import upgrade
from tftrade.store.schema_execution import order_events, order_intents


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] * 1e3


def broker_on(fake: FakeAlpaca, stream: bool) -> AlpacaBroker:
    cfg = AlpacaConfig(url=fake.rest_url, stream_url=fake.stream_url, key_id=fake.key_id, secret_key=fake.secret_key)
    return AlpacaBroker(cfg, stream=stream, bucket=TokenBucket(per_minute=1e9))


def scratch(url: str):  # type: ignore[no-untyped-def]
    """A migrated engine whose journal tables are empty (``--db`` must be a scratch database)."""
    eng = make_engine(url)
    upgrade(eng)
    with eng.begin() as conn:
        conn.execute(order_events.delete())
        conn.execute(order_intents.delete())
    return eng


def round_trip(n: int, url: str) -> None:
    eng = scratch(url)
    with FakeAlpaca() as fake:
        b = broker_on(fake, stream=True)
        fake.wait_listening()
        jb = JournaledBroker(b, OrderJournal(eng), name="alpaca")
        accepted, filled, journal_s = [], [], []
        for i in range(n + 10):
            cid = f"bench-{time.time_ns()}-{i}"
            t0 = time.perf_counter()
            jb.journal.record_intent(Order(cid, "AAPL", 1.0), decision_id="bench")
            jb.journal.append(cid, "submitted")
            t_journal = time.perf_counter() - t0
            t0 = time.perf_counter()
            jb.submit(Order(cid, "AAPL", 1.0), decision_id="bench")  # intent already there: idempotent
            t1 = time.perf_counter()
            fake.trade("AAPL", 100.0)
            while not b._pending:
                time.sleep(0.0002)
            jb.drain_fills()
            t2 = time.perf_counter()
            if i >= 10:  # warm-up
                accepted.append(t1 - t0)
                filled.append(t2 - t0)
                journal_s.append(t_journal)
        b.close()
    eng.dispose()
    print(f"round trip, {n} market orders, journal on {url.split(':')[0]}:")
    print(f"  decision -> accepted : p50 {pct(accepted, .5):6.2f} ms   p99 {pct(accepted, .99):6.2f} ms")
    print(f"  decision -> filled   : p50 {pct(filled, .5):6.2f} ms   p99 {pct(filled, .99):6.2f} ms")
    print(f"  journal intent+event : p50 {pct(journal_s, .5):6.2f} ms   p99 {pct(journal_s, .99):6.2f} ms")


def reconciliation(positions: int, orders: int, url: str) -> None:
    eng = scratch(url)
    with FakeAlpaca() as fake:
        tickers = [f"T{i:04d}" for i in range(positions)]
        intents, events = [], []
        for i in range(orders):
            t = tickers[i % positions]
            o = fake._create({"symbol": t, "qty": "2", "side": "buy", "type": "market", "time_in_force": "day",
                              "client_order_id": f"r-{i}"})
            fake._execute(o, Decimal(2), Decimal("10.5"))
            intents.append({"client_order_id": f"r-{i}", "ticker": t, "side": "buy", "quantity": "2",
                            "order_type": "market", "limit_price": None, "time_in_force": "day",
                            "decision_id": "bench", "tag": "", "broker": "alpaca", "created_ns": i + 1,
                            "rationale": ""})
            events.append({"client_order_id": f"r-{i}", "event": "fill", "ts_ns": i + 1, "broker_order_id": o["id"],
                           "execution_id": f"{o['id']}@2", "fill_quantity": "2", "fill_price": "10.5",
                           "commission": "0", "filled_quantity": "2", "reason": None})
        missing = set(range(0, orders, 10))
        with eng.begin() as conn:
            conn.execute(order_intents.insert(), intents)
            conn.execute(order_events.insert(), [e for i, e in enumerate(events) if i not in missing])
        b = broker_on(fake, stream=False)
        jb = JournaledBroker(b, OrderJournal(eng), name="alpaca")
        # the 10 % missing fills make those orders "accepted" in the journal: mark them so
        for i in missing:
            jb.journal.append(f"r-{i}", "accepted")
        jb = JournaledBroker(b, OrderJournal(eng), name="alpaca")  # a restart
        t0 = time.perf_counter()
        first = reconcile(jb)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = reconcile(jb)
        t_again = time.perf_counter() - t0
        b.close()
    eng.dispose()
    print(f"reconciliation, {positions} positions, {orders} orders (journal on {url.split(':')[0]}):")
    print(f"  after restart, {len(missing)} fills adopted: {t_first:6.2f} s  (in sync: {first.in_sync}, "
          f"adopted {len(first.adopted_fills)}, {first.broker_orders} broker orders read)")
    print(f"  in sync, nothing to do            : {t_again:6.2f} s  (in sync: {again.in_sync})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--positions", type=int, default=500)
    ap.add_argument("--recon-orders", type=int, default=5000)
    ap.add_argument("--db", default="")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        round_trip(args.orders, url)
        url2 = args.db or f"sqlite:///{tmp}/recon.db"
        reconciliation(args.positions, args.recon_orders, url2)


if __name__ == "__main__":
    main()
