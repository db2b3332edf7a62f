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


def freeze_startup_objects() -> int:
    """Collect once, then move every object alive into the collector's permanent generation (:func:`gc.freeze`).

    For a long-running latency-bound process (the live workers, once their model, windows and
    libraries are loaded): a full collection walks every tracked object, and the half million of
    torch, pandas, scipy and the model took 0.6 s of CPU on a loaded 2-core machine — a pause that
    would land on whichever bar it happens in. Frozen objects are never walked again; what the
    process creates afterwards is collected as usual. Returns the number of objects frozen.

    Examples
    --------
    >>> freeze_startup_objects() > 0
    True
    >>> gc.unfreeze()
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
