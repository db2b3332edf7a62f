"""Wait for what another thread (a worker, a fake server, a stream) makes true: poll, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(condition: Callable[[], bool], timeout: float = 60.0, interval: float = 0.01) -> None:
    """Return once ``condition()`` is true; fail the test when it is still false after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in {timeout:g} s")
        time.sleep(interval)
