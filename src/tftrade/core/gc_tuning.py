"""Fewer garbage collections inside hot loops that allocate many short-lived objects.

The functions set the interpreter's own collector (thresholds, frozen objects: process-wide by nature);
the schedule of the full collections a live process runs in idle time is an :class:`IdleCollector`
object, created by the command and handed to its workers.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

DEFERRED = 1_000
"""The collector's last threshold while full collections wait for idle time (:func:`defer_full_collections`,
:class:`IdleCollector`): a full collection only after this many middle-generation ones (Python's default
is 10), which an idle collection resets; so one still comes when the workers are never idle."""


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


def freeze_startup_objects(*, collect_first: bool = True, defer_full: bool = True) -> int:
    """Collect once, then move every object alive into the collector's permanent generation (:func:`gc.freeze`);
    with ``defer_full``, full collections then run only in idle time (:func:`defer_full_collections`; an
    :class:`IdleCollector` runs them).

    For a long-running latency-bound process (the live workers, once their model, windows and
    libraries are loaded): a full collection walks every tracked object, and the half million of
    torch, pandas, scipy and the model took 0.6 s of CPU on a loaded 2-core machine — a pause that
    would land on whichever bar it happens in. Frozen objects are never walked again; what the
    process creates afterwards is collected as usual (young generations automatically, in well
    under a millisecond; the rest, 6–21 ms measured, when the workers are idle). Returns the
    number of objects frozen.

    A process that is serving already (``tftrade serve``, after each model it loads) passes
    ``collect_first=False`` (the collection first would stall it ~0.5 s; cycles among the frozen objects
    then stay) and ``defer_full=False`` (it has no idle collector).

    Examples
    --------
    >>> before = gc.get_threshold()
    >>> freeze_startup_objects() > 0, gc.get_threshold()[2] == DEFERRED
    (True, True)
    >>> gc.unfreeze(); gc.set_threshold(*before)
    """
    if collect_first:
        gc.collect()
    gc.freeze()
    if defer_full:
        defer_full_collections()
    return gc.get_freeze_count()


def defer_full_collections() -> None:
    """No automatic full collection from now on: :meth:`IdleCollector.collect_when_idle` runs them (the young
    generations are still collected automatically). A process whose workers are never idle (a replay as fast
    as possible, a backlog) still gets one: the collector's own rule comes back at :data:`DEFERRED` gen-1
    collections."""
    t0, t1, _ = gc.get_threshold()
    gc.set_threshold(t0, t1, DEFERRED)


@contextmanager
def restored_gc() -> Iterator[None]:
    """Run the block, then give the collector back as it was: frozen objects unfrozen, the thresholds restored.

    For in-process callers of commands that freeze (:func:`freeze_startup_objects`), e.g. a test invoking
    ``tftrade live`` through the CLI runner; a process that exits afterwards does not need it.

    >>> before = gc.get_threshold()
    >>> with restored_gc():
    ...     _ = freeze_startup_objects()
    >>> gc.get_freeze_count(), gc.get_threshold() == before
    (0, True)
    """
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


class IdleCollector:
    """Runs the full collections :func:`defer_full_collections` held back, when a worker has nothing to do.

    One per process that defers them (``tftrade live`` and ``tftrade worker`` create it and hand its
    :meth:`collect_when_idle` to their workers): its workers share one schedule, at most one full
    collection per ``every_s`` seconds. The collector's thresholds and frozen objects, which decide
    whether anything is deferred, are the interpreter's own (process-wide by nature); this object keeps
    only when it last collected. ``clock`` and ``collect`` are :func:`time.monotonic` and :func:`gc.collect`
    (injectable for tests).

    >>> IdleCollector().collect_when_idle()  # nothing deferred: the collector's own schedule
    False
    """

    def __init__(self, every_s: float = 30.0, *, clock: Callable[[], float] = time.monotonic,
                 collect: Callable[[], object] = gc.collect) -> None:
        self.every_s = every_s
        self._clock, self._collect = clock, collect
        self._lock = threading.Lock()
        self._last_full: float | None = None  # clock time of this collector's last full collection

    def _due(self) -> bool:
        return self._last_full is None or self._clock() - self._last_full >= self.every_s

    def collect_when_idle(self) -> bool:
        """Run a full collection if full collections are deferred (:data:`DEFERRED`) and none ran in the last
        ``every_s``; a worker calls it when idle. Returns whether it collected (never while another thread
        is collecting through this object)."""
        if gc.get_threshold()[2] != DEFERRED or not self._due() or not self._lock.acquire(blocking=False):
            return False
        try:
            if not self._due():  # another idle thread collected meanwhile
                return False
            self._collect()
            self._last_full = self._clock()
        finally:
            self._lock.release()
        return True
