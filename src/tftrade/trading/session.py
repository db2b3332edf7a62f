"""When the loop may decide: always (a backtest's bars are all tradable) or inside the exchange session."""

from __future__ import annotations

from typing import Protocol


class Session(Protocol):
    """Decision window of the loop, asked with the injected clock's time."""

    def can_decide(self, now_ns: int) -> bool:
        """True when new decisions may be made at ``now_ns``."""
        ...

    def flatten_due(self, now_ns: int) -> bool:
        """True when every position should be closed now (e.g. minutes before the close)."""
        ...


class AlwaysOpen:
    """Every bar is a decision bar and nothing is flattened (the backtest's window)."""

    def can_decide(self, now_ns: int) -> bool:
        """Always true."""
        return True

    def flatten_due(self, now_ns: int) -> bool:
        """Always false."""
        return False
