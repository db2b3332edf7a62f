"""CPU priority of a worker process: bulk work yields the cores to the latency-bound workers.

The ingest worker is a throughput job (bars → validation → store, as fast as they come); the
predict and trade workers answer each bar within milliseconds. On shared cores the scheduler
splits time evenly between runnable processes, so an ingest worker loading a backlog stretches
every forecast it overlaps. ``tftrade worker ingest`` therefore runs at a lower priority
(niceness :data:`DEFAULT_NICE` ``["ingest"]``, 10 by default; ``--nice`` changes it): it still gets
every cycle the others leave idle, and yields when they want a core.

Niceness weighs processes against the others in the same scheduling group: on Linux with
autogroup (the default on desktops) that is the processes of the same session, under systemd or
Kubernetes those of the same cgroup (give the service a lower ``CPUWeight`` or CPU request there).
A niceness is only ever raised here (a process can always lower its own priority, not raise it
back without privileges). ``tftrade live`` runs the ingest worker as a thread of its own process:
on Linux that thread alone takes the niceness (:func:`lower_thread_priority`), so it yields the
cores while it works outside the interpreter lock (the store's writes); the lock itself is shared
as before.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

DEFAULT_NICE: dict[str, int] = {"ingest": 10, "sentiment": 0, "predict": 0, "trade": 0}
"""Niceness of each ``tftrade worker`` when ``--nice`` is not given."""


def worker_niceness(name: str, nice: int | None = None) -> int:
    """The niceness worker ``name`` runs at: ``nice`` when given, else its default (0 for unknown workers).

    >>> worker_niceness("ingest"), worker_niceness("ingest", 0), worker_niceness("predict")
    (10, 0, 0)
    """
    return DEFAULT_NICE.get(name, 0) if nice is None else nice


def current_niceness() -> int:
    """This thread's niceness (0 where the platform has none)."""
    return os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else 0


def lower_priority(nice: int) -> int:
    """Run at niceness at least ``nice`` (never higher priority than now); return the niceness in effect.

    Call it before starting threads: on Linux niceness is per thread and threads inherit their
    creator's (torch's and the bus client's threads too). A platform without niceness, or one that
    refuses, leaves the priority as it is (logged).
    """
    if not hasattr(os, "setpriority"):
        return 0
    now = current_niceness()
    if nice <= now:
        return now
    try:
        os.setpriority(os.PRIO_PROCESS, 0, min(nice, 19))
    except OSError as e:  # pragma: no cover - a sandbox forbidding it
        log.warning("could not lower the priority to niceness %d: %s", nice, e)
    return current_niceness()


def lower_thread_priority(nice: int) -> int | None:
    """:func:`lower_priority` for the calling thread only, where niceness is per thread (Linux); ``None`` elsewhere
    (there it would lower the whole process). ``tftrade live`` runs its ingest worker as a thread this way."""
    if not sys.platform.startswith("linux"):
        return None
    return lower_priority(nice)
