"""Where a request's time goes, on the server's clock: named stages, answered as a ``Server-Timing`` header.

A request's :class:`Stages` is made by the API's middleware and reached through a context
variable, so code the request runs (also on a worker thread: :func:`asyncio.to_thread` carries
the context) marks its stages with :func:`mark` and costs nothing when no request is being
timed (the poll loop's rounds). ``POST /predict`` answers them as ``Server-Timing``
(``read_bars;dur=6.10;cpu=2.31, …``, milliseconds: wall time, and the CPU time of the stage's thread
where the stage ran on one thread), which browsers' developer tools and the benchmark read; ``gc``
is the time the garbage collector ran meanwhile (in any thread of the process).
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_current: ContextVar[Stages | None] = ContextVar("tftrade_stages", default=None)
_gc_lock = threading.Lock()
_gc_total = [0.0]  # seconds the collector ran since the callback was installed
_gc_started: dict[int, float] = {}


def _on_gc(phase: str, _info: dict[str, Any]) -> None:
    now = time.perf_counter()
    ident = threading.get_ident()
    if phase == "start":
        _gc_started[ident] = now
    elif (began := _gc_started.pop(ident, None)) is not None:
        with _gc_lock:
            _gc_total[0] += now - began


def _install_gc_callback() -> None:
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


class Stages:
    """Durations of a request's named stages (ms), each from the previous mark; a name marked twice adds up.

    Examples
    --------
    >>> s = Stages(); s.mark("a"); s.mark("b"); s.mark("a"); sorted(s.spans)
    ['a', 'b']
    >>> s.header().startswith("a;dur=")
    True
    """

    def __init__(self) -> None:
        _install_gc_callback()
        self._t = self.started = time.perf_counter()
        self._cpu, self._thread = time.thread_time(), threading.get_ident()
        self._gc0 = _gc_total[0]
        self.spans: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        """CPU time (ms) of each stage's thread during it, for stages that began and ended on one thread
        (less sensitive than the wall time to other processes taking the cores)."""

    def mark(self, name: str) -> None:
        """Close the stage ``name``: the time since the previous mark (or the start) goes to it."""
        now, cpu, thread = time.perf_counter(), time.thread_time(), threading.get_ident()
        self.spans[name] = self.spans.get(name, 0.0) + (now - self._t) * 1e3
        if thread == self._thread:
            self.cpu[name] = self.cpu.get(name, 0.0) + (cpu - self._cpu) * 1e3
        self._t, self._cpu, self._thread = now, cpu, thread

    def header(self) -> str:
        """``Server-Timing`` value: each stage (``dur``, and ``cpu`` where measured), the collector's time
        and the total so far (ms)."""
        parts = [f"{name};dur={ms:.2f}" + (f";cpu={self.cpu[name]:.2f}" if name in self.cpu else "")
                 for name, ms in self.spans.items()]
        parts.append(f"gc;dur={(_gc_total[0] - self._gc0) * 1e3:.2f}")
        parts.append(f"total;dur={(time.perf_counter() - self.started) * 1e3:.2f}")
        return ", ".join(parts)


def mark(name: str) -> None:
    """Close the stage ``name`` of the request being timed, if any (a no-op elsewhere)."""
    stages = _current.get()
    if stages is not None:
        stages.mark(name)


def current() -> Stages | None:
    """The stages of the request being timed (``None``: none)."""
    return _current.get()


@contextlib.contextmanager
def timed() -> Iterator[Stages]:
    """Time the code run inside (and the threads it hands work to through :func:`asyncio.to_thread`)."""
    stages = Stages()
    token = _current.set(stages)
    try:
        yield stages
    finally:
        _current.reset(token)


def parse_header(value: str, param: str = "dur") -> dict[str, float]:
    """A ``Server-Timing`` value → ``{name: ms}`` of ``param`` (``dur``, or ``cpu``); entries without it are left out.

    Examples
    --------
    >>> parse_header("read_bars;dur=6.1;cpu=2.5, gc;dur=0.00, total;dur=9")
    {'read_bars': 6.1, 'gc': 0.0, 'total': 9.0}
    >>> parse_header("read_bars;dur=6.1;cpu=2.5, gc;dur=0.00", "cpu")
    {'read_bars': 2.5}
    """
    out: dict[str, float] = {}
    for entry in value.split(","):
        name, *params = (p.strip() for p in entry.split(";"))
        for p in params:
            if p.startswith(f"{param}="):
                out[name] = float(p[len(param) + 1:])
    return out
