"""`tftrade live --serve` exits cleanly: the API's bus reader sees the bus's close as the end, not a failure."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from typer.testing import CliRunner

from tftrade.cli import app
from tftrade.stream.memory import InMemoryBus
from tftrade.stream.shared import SharedBus
from tftrade.stream.topics import Topic

pytestmark = pytest.mark.usefixtures("initialized_home")
runner = CliRunner()


class LaggingBus(InMemoryBus):
    """An in-memory bus whose first ``pending`` after the run is slow: the API's reader is still busy when the
    service's wait for it (2 s) runs out, so the live process closes the bus under it."""

    def __init__(self, finished: threading.Event) -> None:
        super().__init__()
        self.finished, self.lagged = finished, False

    def pending(self, topic: Topic, group: str) -> int:
        if self.finished.is_set() and group.startswith("service-") and not self.lagged:
            self.lagged = True
            time.sleep(4.0)
            return 0
        return super().pending(topic, group)


def test_a_clean_exit_of_live_serve_logs_no_failing_bus_read(monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    import tftrade.live.app as live_app

    result = runner.invoke(app, ["ingest", "synthetic", "--tickers", "3", "--days", "1", "--json"])
    assert result.exit_code == 0, result.output
    finished = threading.Event()
    buses: list[LaggingBus] = []
    run_live = live_app.run_live

    def open_bus(*args: Any, **kwargs: Any) -> LaggingBus:
        buses.append(LaggingBus(finished))
        return buses[-1]

    def run_then_mark(*args: Any, **kwargs: Any) -> dict[str, object]:
        try:
            return run_live(*args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(live_app, "open_bus", open_bus)
    monkeypatch.setattr(live_app, "run_live", run_then_mark)
    crashed: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: crashed.append(args.exc_value))
    with caplog.at_level(logging.WARNING):
        result = runner.invoke(app, ["live", "--strategy", "sma", "--serve", "--port", "0", "--json"])
        for th in [t for t in threading.enumerate() if t.name == "service-bus"]:
            th.join(10)  # the reader outlived the API's wait: let it finish before looking
    assert result.exit_code == 0, result.output
    assert buses and buses[0].lagged  # the race was there: the reader was busy while the bus closed
    failed = [r.getMessage() for r in caplog.records if "bus read on" in r.getMessage() or "closed" in r.getMessage()]
    assert failed == [] and crashed == []


def test_a_shared_bus_closed_under_a_read_in_flight_ends_the_read() -> None:
    bus = SharedBus(InMemoryBus())
    bus.subscribe("orders", "api", "c1")
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.append(bus.read("orders", "api", "c1", block_ms=5_000)))
    reader.start()
    time.sleep(0.2)  # the reader is blocked in the inner bus
    bus.close()
    reader.join(5)
    assert got == [[]] and bus.closed
    with pytest.raises(Exception, match="closed"):
        bus.publish_raw("orders", b"{}")  # a writer after the close is still told
