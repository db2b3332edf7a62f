"""Clocks: the only thing besides the broker that differs between a backtest and live trading.

Components that need "now" take a :class:`Clock`; the backtest injects a :class:`SimulatedClock`
that it advances bar by bar, live trading a :class:`SystemClock`.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Source of the current time in epoch nanoseconds (UTC)."""

    def now_ns(self) -> int:
        """Return the current time in epoch nanoseconds."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now_ns(self) -> int:
        """Return :func:`time.time_ns`."""
        return time.time_ns()


class SimulatedClock:
    """A clock set by the backtest; it never moves backwards.

    Examples
    --------
    >>> c = SimulatedClock(10)
    >>> c.advance_to(20); c.now_ns()
    20
    """

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        """Return the simulated time."""
        return self._now

    def advance_to(self, ns: int) -> None:
        """Move the clock to ``ns``.

        Raises
        ------
        ValueError
            If ``ns`` is earlier than the current time.
        """
        if ns < self._now:
            raise ValueError(f"simulated clock cannot move backwards from {self._now} to {ns}")
        self._now = ns
