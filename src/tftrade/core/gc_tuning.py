"""Fewer garbage collections inside hot loops that allocate many short-lived objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def relaxed_gc(threshold: int = 100_000) -> Iterator[None]:
    """Raise the collector's first threshold to at least ``threshold`` inside the block, then restore it.

    For loops that create many short-lived objects and few reference cycles (backtest orders,
    autograd graphs of training steps): a young-generation collection every 700 allocations
    costs them several percent for nothing.

    Examples
    --------
    >>> before = gc.get_threshold()
    >>> with relaxed_gc():
    ...     gc.get_threshold()[0] >= 100_000
    True
    >>> gc.get_threshold() == before
    True
    """
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], threshold), old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
