"""The trader killed (SIGKILL) at every step between journal write, submit and fill; then restarted.

A subprocess runs :mod:`crash_trader` against the fake Alpaca and a journal (a SQLite file, and a
PostgreSQL schema: the kill lands mid-transaction on a server too) and kills itself
at one crash point (``in_flight`` is killed by this test while the POST is inside the broker).
The restarted trader reconciles. After each: no duplicate order at the broker, the ledger equals
the broker's positions, and the journal tells the whole story.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from alpaca_harness import FakeAlpaca, make_alpaca, wait_for

import tftrade
from tftrade.execution.journal import OrderJournal
from tftrade.execution.journaled import JournaledBroker
from tftrade.execution.reconcile import reconcile
from tftrade.store.engine import make_engine
from tftrade.store.migrate import upgrade

SCRIPT = Path(__file__).with_name("crash_trader.py")
SRC = Path(tftrade.__file__).resolve().parents[1]
CID = "AAPL-crash-0001"

# crash point -> (story after restart and reconciliation, was the order placed at the broker?)
CASES = {
    "intent_written": (["intent", "abandoned"], False),
    "in_flight": (["intent", "submitted", "resolved", "adopted_fill"], True),
    "broker_answered": (["intent", "submitted", "resolved", "adopted_fill"], True),
    "answer_journaled": (["intent", "submitted", "accepted", "adopted_fill"], True),
    "fill_received": (["intent", "submitted", "accepted", "adopted_fill"], True),
    "fill_journaled": (["intent", "submitted", "accepted", "fill"], True),
    "none": (["intent", "submitted", "accepted", "fill"], True),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The journal's database: a SQLite file, or a fresh schema of the test PostgreSQL (must run in CI)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.db'}"
    return request.getfixturevalue("pg_url")  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.parametrize("point", list(CASES))
def test_kill_at_every_step_then_restart(point: str, journal_url: str) -> None:
    url = journal_url
    setup = make_engine(url)
    upgrade(setup)
    setup.dispose()
    with FakeAlpaca() as fake:
        if point == "in_flight":
            fake.inject("delay_after_accept", delay_s=20.0)
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        with subprocess.Popen(
                [sys.executable, str(SCRIPT), url, fake.rest_url, fake.stream_url, fake.key_id, fake.secret_key,
                 point, CID], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as child:
            try:
                if point == "in_flight":
                    wait_for(lambda: fake.created == 1, timeout=60)
                    child.send_signal(signal.SIGKILL)
                elif point in ("fill_received", "fill_journaled", "none"):
                    assert child.stdout is not None
                    assert child.stdout.readline().strip() == "SUBMITTED"
                    fake.trade("AAPL", 100.0)
                _, stderr = child.communicate(timeout=60)
            finally:
                if child.poll() is None:
                    child.kill()
        assert child.returncode == (0 if point == "none" else -signal.SIGKILL), stderr
        placed = fake.orders_for(CID)
        if placed and point not in ("fill_received", "fill_journaled", "none"):
            fake.trade("AAPL", 100.0)  # the fill happens while the trader is down

        # restart: a new process would do exactly this
        engine = make_engine(url)
        journal = OrderJournal(engine)
        with make_alpaca(fake) as broker:
            jb = JournaledBroker(broker, journal, name="alpaca")
            report = reconcile(jb, policy="halt")
            story, at_broker = CASES[point]
            assert fake.orders_for(CID) == int(at_broker) and fake.post_attempts <= 1  # never sent twice
            assert report.in_sync and not report.halted, report
            assert journal.positions() == {k: Decimal(str(v)) for k, v in fake.position_map().items()}
            assert journal.positions() == ({"AAPL": Decimal(10)} if at_broker else {})
            assert journal.story(CID) == story
            again = reconcile(jb)  # idempotent: nothing adopted twice
            assert again.in_sync and again.adopted_fills == () and journal.story(CID) == story
        engine.dispose()
