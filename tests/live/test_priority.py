"""Worker CPU priority: the ingest worker (a bulk job) runs at a lower priority than predict and trade."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tftrade.live.priority import DEFAULT_NICE, current_niceness, lower_priority, worker_niceness

pytestmark = pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no process priorities on this platform")


def test_defaults_put_only_the_ingest_worker_lower() -> None:
    assert worker_niceness("ingest") == DEFAULT_NICE["ingest"] == 10
    assert [worker_niceness(w) for w in ("sentiment", "predict", "trade")] == [0, 0, 0]
    assert worker_niceness("ingest", 0) == 0 and worker_niceness("predict", 5) == 5


def test_lower_priority_only_ever_lowers_it() -> None:
    code = ("from tftrade.live.priority import lower_priority, current_niceness as c\n"
            "a = c(); b = lower_priority(a + 7); d = lower_priority(a + 2)\n"
            "print(a, b, d, c())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ}).stdout.split()
    a, b, d, now = map(int, out)
    assert b == min(a + 7, 19) and d == b and now == b  # raised once; asking for less leaves it
    assert current_niceness() == a  # this process is untouched
    assert lower_priority(current_niceness()) == a  # asking for the niceness in effect changes nothing


@pytest.mark.integration
def test_the_ingest_worker_runs_at_its_niceness_and_the_option_overrides_it(sqlite_engine: object) -> None:
    import threading
    import uuid

    from tftrade.live.app import LiveOptions, run_worker

    from .conftest import redis_or_skip

    redis_or_skip()
    got: dict[str, object] = {}

    def run(nice: int | None) -> None:  # a thread of its own: on Linux niceness is per thread
        stop = threading.Event()
        stop.set()  # nothing to ingest: start, take the priority, stop
        opts = LiveOptions(redis_url="redis://127.0.0.1:6379/0", bus_prefix=f"test:{uuid.uuid4().hex}", nice=nice)
        got[str(nice)] = run_worker("ingest", sqlite_engine, opts, lambda e: None, stop)  # type: ignore[arg-type]
        got[f"{nice}-thread"] = current_niceness()

    base = current_niceness()
    for nice in (None, 0):
        th = threading.Thread(target=run, args=(nice,))
        th.start()
        th.join(60)
    summary = got["None"]
    assert isinstance(summary, dict) and summary["nice"] == max(base, 10) == got["None-thread"]
    summary = got["0"]
    assert isinstance(summary, dict) and summary["nice"] == base == got["0-thread"]
    assert current_niceness() == base


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_lower_thread_priority_changes_the_calling_thread_only() -> None:
    import threading

    from tftrade.live.priority import lower_thread_priority

    base, seen = current_niceness(), {}

    def work() -> None:
        seen["returned"] = lower_thread_priority(base + 3)
        seen["thread"] = current_niceness()

    th = threading.Thread(target=work)
    th.start()
    th.join()
    assert seen == {"returned": min(base + 3, 19), "thread": min(base + 3, 19)}
    assert current_niceness() == base
