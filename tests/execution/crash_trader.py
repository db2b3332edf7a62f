"""A trader process for the crash tests: journal, submit one order, wait for its fill — and die where told.

Usage: ``python crash_trader.py DB_URL REST_URL STREAM_URL KEY SECRET CRASH_POINT CLIENT_ID``.
``CRASH_POINT`` is one of :class:`JournaledBroker`'s hook points (``intent_written``,
``broker_answered``, ``answer_journaled``, ``fill_received``, ``fill_journaled``) or ``none``;
at that point the process SIGKILLs itself (no clean-up, no flush: as a power cut would).
Prints ``SUBMITTED`` once the broker has the order and ``DONE`` when the fill is journaled.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from tftrade.core.orders import Order
from tftrade.execution.alpaca import AlpacaBroker
from tftrade.execution.journal import OrderJournal
from tftrade.execution.journaled import JournaledBroker
from tftrade.execution.settings import AlpacaConfig
from tftrade.store.engine import make_engine


def main() -> None:
    db, rest, stream, key, secret, point, cid = sys.argv[1:8]

    def hook(at: str) -> None:
        if at == point:
            os.kill(os.getpid(), signal.SIGKILL)

    broker = AlpacaBroker(AlpacaConfig(url=rest, stream_url=stream, key_id=key, secret_key=secret, timeout_s=30))
    end = time.monotonic() + 30
    while not broker.stream_connected and time.monotonic() < end:
        time.sleep(0.01)
    jb = JournaledBroker(broker, OrderJournal(make_engine(db)), name="alpaca", crash_hook=hook)
    jb.submit(Order(cid, "AAPL", 10.0, created_ns=1_700_000_000_000_000_000), decision_id="crash-test")
    print("SUBMITTED", flush=True)
    while time.monotonic() < end:
        if jb.drain_fills() or jb.journal.order(cid).state == "filled":  # type: ignore[union-attr]
            print("DONE", flush=True)
            break
        time.sleep(0.01)
    broker.close()


if __name__ == "__main__":
    main()
