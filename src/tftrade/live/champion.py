"""Follow the registry's champion while ``tftrade live`` runs: a promotion mid-session is traded on, safely.

``tftrade serve`` looks for the version to serve every few seconds (the registry's one rule,
:meth:`ModelRegistry.select <tftrade.forecast.registry.ModelRegistry.select>`, in
:meth:`ServingModel.refresh <tftrade.service.serving.ServingModel.refresh>`). :class:`ChampionFollower`
makes the same look for the predict worker of a run on the registry's model (never on ``--model DIR``),
on a thread of its own, so the bars never wait for the registry:

1. every ``every_s`` seconds, :meth:`~ChampionFollower.check`: when the champion is another version than
   the one forecasting (and not one already refused), it is vetted and loaded: trained on the run's
   timeframe and every ticker of the run, forecasting the horizon this run trades, with a history
   the predict worker's window holds. It is loaded as a restart would load it: a champion tagged
   ``loses_to_baseline`` (promoted with ``--force``) forecasts with its confidence muted to 0. A version
   pending while the champion changes again is dropped at the next look;
2. at the next bar boundary (once a bar's predictions are published:
   :meth:`~ChampionFollower.after_bar`) the predict worker hands over a copy of its window and the
   thread warms the new model on it (the cold start a restart would make, its inputs checked). It is
   ready only once that cold start forecast: inputs it rejects refuse it; a window still short of its
   warm-up is copied again once the bars it lacks have come (at most :data:`MAX_WARMS` copies);
3. at a later bar boundary the warmed model is fed the bars since the copy (at most
   :data:`MAX_CATCH_UP`; :meth:`TftPredictor.catch_up <tftrade.live.predictor.TftPredictor.catch_up>`:
   no forward pass, else another copy is warmed, at most :data:`MAX_WARMS` in all) and takes over: it
   forecasts the next bar. Any error on the way refuses it (a failed load is tried again every
   :data:`LOAD_RETRY_S`); the current model goes on.

Each outcome is one event: ``model_switched`` (``from``, ``to``, ``after_ns``: the last bar the old
version forecast) or ``model_kept`` (the ``version`` kept, the ``champion`` refused, the ``reason``);
with a desk, also a desk event the service alerts on: ``model_promoted`` keyed by the version, as the
service's own (a desk alerts one promotion once), or ``model_not_followed`` (each refused version once per
run), written by the follower's thread, not the predict worker's. A model that fails to load, to vet or to
warm never forecasts: the current one goes on. While nothing is pending the predict worker's cost per bar
is one attribute read.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from tftrade.core.errors import first_line
from tftrade.live.predictor import TftPredictor
from tftrade.live.window import RollingMarket

if TYPE_CHECKING:
    from tftrade.forecast.registry import ModelRegistry
    from tftrade.forecast.training import Trained
    from tftrade.stream.desk import Desk

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, object]], None]
MakePredictor = Callable[["Trained", str, int], TftPredictor]
"""Builds the predictor of a trained model, its version and the run's horizon (raises if it cannot)."""
MAX_CATCH_UP = 8
"""The most bars a warmed model is fed at a bar boundary before it takes over (more: it is warmed again)."""
MAX_WARMS = 5
"""The most window copies a pending version is warmed on before it is refused (it kept falling behind)."""
LOAD_RETRY_S = 60.0
"""Seconds before a champion whose load failed (e.g. the artifact store unreachable) is loaded again."""
State = Literal["idle", "copy", "warming", "ready"]


class ChampionFollower:
    """Switch the predict worker to a newly promoted champion at a bar boundary (see the module docstring).

    Parameters
    ----------
    registry
        The registry the run's model came from.
    current
        The predictor forecasting now (its version and horizon are the run's).
    window
        The predict worker's window (its tickers, timeframe and capacity are read here; it is copied
        only by :meth:`after_bar`, on the worker's thread).
    make
        Builds the new version's predictor (with the run's inputs, e.g. its stored sentiment).
    emit
        Receives the ``model_switched`` and ``model_kept`` events.
    desk
        Receives the matching desk events (alerted by the service), when given.
    every_s
        Seconds between two looks in the registry.
    retry_s
        Seconds before a version whose load failed (the artifact store unreachable) is loaded again.
    clock
        Monotonic seconds (for the retry; tests inject one).
    """

    def __init__(self, registry: ModelRegistry, current: TftPredictor, window: RollingMarket, *,
                 make: MakePredictor, emit: Emit, desk: Desk | None = None, every_s: float = 5.0,
                 retry_s: float = LOAD_RETRY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry, self.window, self.make, self.emit, self.desk = registry, window, make, emit, desk
        self.every_s, self.retry_s, self._clock = every_s, retry_s, clock
        self._retry_at: dict[str, float] = {}  # a version whose load failed -> when to load it again
        self.version = current.model_version
        """The version forecasting now."""
        self.horizon = current.horizon
        self._refused: set[str] = set()  # versions refused this run (each reported once, not looked at again)
        self._state: State = "idle"
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._candidate: TftPredictor | None = None
        self._copy: RollingMarket | None = None
        self._warms = 0  # copies the pending version was warmed on
        self._wait_bars = 0  # bars to let pass before the next copy (the pending version's warm-up needs them)
        self._desk_pending: list[tuple[Literal["model_promoted", "model_not_followed"], str, str]] = []

    @property
    def pending_desk_events(self) -> int:
        """Desk events queued and not yet written (:meth:`publish`)."""
        return len(self._desk_pending)

    @property
    def state(self) -> State:
        """``idle``; ``copy`` (a new version waits for the window's copy); ``warming``; ``ready`` (to take over)."""
        return self._state

    def run(self, stop: threading.Event) -> None:
        """A service: look in the registry every ``every_s`` seconds and warm what :meth:`after_bar` hands over,
        until ``stop``. This thread yields the cores to the workers (Linux)."""
        from tftrade.live.priority import lower_thread_priority, worker_niceness

        lower_thread_priority(worker_niceness("ingest"))
        due = time.monotonic() + self.every_s
        while not stop.is_set():
            self._wake.wait(max(0.0, min(0.25, due - time.monotonic())))
            self._wake.clear()
            if time.monotonic() >= due:  # first: a rollback drops the pending version before it warms
                due = time.monotonic() + self.every_s
                try:
                    self.check()
                except Exception as e:  # a registry hiccup: the next look tries again
                    log.warning("could not look for a new champion: %s", first_line(e))
            if self._state == "warming":
                self.warm()
            self.publish()
        self.publish()

    def check(self) -> None:
        """One look in the registry: a champion other than the version forecasting is vetted and loaded
        (then waits for the window's copy), or refused with a ``model_kept`` event. A pending version that is
        no longer the champion is dropped."""
        chosen = self.registry.select()
        champion = chosen.version if chosen.selection == "champion" else None
        with self._lock:
            pending = self._candidate.model_version if self._candidate is not None else None
            if pending is not None and pending != champion:
                self._drop()
                log.warning("model version %s is no longer the champion (now %s): not switching to it",
                            pending, champion or "none")
            elif pending is not None:
                return
            current = self.version
        if champion is None or champion == current or champion in self._refused:
            return
        if self._clock() < self._retry_at.get(champion, float("-inf")):
            return
        version = champion
        try:
            trained, version = self.registry.load(version)
        except Exception as e:  # the store may answer at a later look: reported once, loaded again later
            first = version not in self._retry_at
            self._retry_at[version] = self._clock() + self.retry_s
            if first:  # its own alert key: a refusal once it loads is alerted too
                self._report(version, f"{first_line(e)} (loaded again every {self.retry_s:g} s)",
                             f"it is loaded again every {self.retry_s:g} s", key=f"{version}:load")
            return
        self._retry_at.pop(version, None)
        try:
            reason = self._unfit(trained)
            candidate = None if reason else self.make(trained, version, self.horizon)
        except Exception as e:  # refused: the current model goes on
            reason, candidate = first_line(e), None
        if candidate is None:
            self._refuse(version, reason)
            return
        with self._lock:
            self._candidate, self._state, self._warms, self._wait_bars = candidate, "copy", 0, 0
        log.info("champion changed to model version %s: warming it to take over from %s", version, self.version)

    def _unfit(self, trained: Trained) -> str:
        """Why ``trained`` cannot forecast for this run ("" when it can)."""
        schema, w = trained.schema, self.window
        if schema.timeframe != w.timeframe:
            return f"it was trained on {schema.timeframe} bars, this run trades {w.timeframe} bars"
        known = set(schema.tickers)
        missing = [t for t in w.tickers if t not in known]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            return f"it does not know this run's ticker(s) {', '.join(missing[:3])}{more}"
        if trained.config.horizon < self.horizon:
            return (f"it forecasts at most {trained.config.horizon} bars ahead, this run trades on "
                    f"{self.horizon}-bar forecasts")
        from tftrade.forecast.workflows import latest_window_bars

        need = latest_window_bars(trained.config.context)  # a cold start's history (TftPredictor.history)
        if need > w.capacity:
            return f"it needs {need} bars of history, this run's window keeps {w.capacity}"
        return ""

    def after_bar(self, window: RollingMarket) -> TftPredictor | None:
        """After a bar is published (on the predict worker's thread): the predictor that forecasts the bars after
        ``window``'s last when the new version takes over now, else ``None``. Never raises: an error refuses the
        pending version."""
        if self._state == "idle" or self._state == "warming":
            return None
        with self._lock:
            candidate = self._candidate
            if candidate is None or self._state not in ("copy", "ready"):
                return None
            try:
                if self._state == "ready" and candidate.catch_up(window, MAX_CATCH_UP):
                    return self._switch(candidate, int(window.timestamps[-1]))
                if self._wait_bars > 0:
                    self._wait_bars -= 1
                    return None
                if self._warms >= MAX_WARMS:
                    raise RuntimeError(f"it fell behind the bars {MAX_WARMS} times while warming")
                self._copy, self._state, self._warms = copy.deepcopy(window), "warming", self._warms + 1
            except Exception as e:  # the current model goes on
                self._drop()
                self._refuse(candidate.model_version, first_line(e))
                return None
        self._wake.set()
        return None

    def warm(self) -> None:
        """Warm the pending version on the window's copy (a cold start at its last row)."""
        with self._lock:
            candidate, frame = self._candidate, self._copy
        if candidate is None or frame is None:
            return
        try:
            forecast = candidate.predict(frame, len(frame) - 1)
            lacking = candidate.warm_up_left() if forecast is None else 0
            if forecast is None and lacking == 0:  # inputs rejected: it would not forecast on the bars either
                raise RuntimeError(candidate.no_forecast_reason)
        except Exception as e:  # inputs the live features lack, a ticker unknown to it: the current model goes on
            with self._lock:
                if self._candidate is candidate:
                    self._drop()
            self._refuse(candidate.model_version, first_line(e))
            return
        with self._lock:
            if self._candidate is not candidate:  # dropped meanwhile (the champion changed again)
                return
            if lacking:  # the window is still short of its warm-up: copy it again once the bars have come
                self._copy, self._state, self._wait_bars = None, "copy", lacking
                self._warms -= 1
            else:
                self._copy, self._state = None, "ready"

    def _drop(self) -> None:
        """Forget the pending version (under the lock)."""
        self._candidate, self._copy, self._state, self._warms, self._wait_bars = None, None, "idle", 0, 0

    def _switch(self, candidate: TftPredictor, after_ns: int) -> TftPredictor:
        old, new = self.version, candidate.model_version
        self.version = new  # before the state is idle: a look in between sees the new version forecasting
        self._drop()
        at = datetime.fromtimestamp(after_ns / 1e9, tz=UTC).isoformat()
        log.warning("model version %s, the new champion, forecasts the bars after %s (was %s)", new, at, old)
        self._emit({"event": "model_switched", "from": old, "to": new, "after_ns": after_ns})
        self._desk_later("model_promoted", f"tftrade live forecasts with model version {new}, the champion, "
                         f"the bars after {at} (was {old})", new)
        return candidate

    def _refuse(self, champion: str, reason: str) -> None:
        self._refused.add(champion)
        self._report(champion, reason, "restart to retry")

    def _report(self, champion: str, reason: str, then: str, key: str | None = None) -> None:
        log.warning("champion model version %s not followed, version %s goes on forecasting: %s",
                    champion, self.version, reason)
        self._emit({"event": "model_kept", "version": self.version, "champion": champion, "reason": reason})
        self._desk_later("model_not_followed", f"tftrade live keeps model version {self.version}: the champion, "
                         f"version {champion}, cannot forecast for it ({reason}); {then}", key or champion)

    def _emit(self, event: dict[str, object]) -> None:
        """Emit an event line; a failing sink (a closed pipe) is logged, never undoes the switch or the refusal."""
        try:
            self.emit(event)
        except Exception as e:
            log.error("could not emit the %s event: %s", event["event"], first_line(e))

    def _desk_later(self, type_: Literal["model_promoted", "model_not_followed"], message: str, key: str) -> None:
        """Queue a desk event for the follower's thread (no Redis write on the predict worker's bar)."""
        if self.desk is not None:
            self._desk_pending.append((type_, message, key))
            self._wake.set()

    def publish(self) -> None:
        """Write the queued desk events (on the follower's thread; :meth:`run` calls it)."""
        while self._desk_pending and self.desk is not None:
            type_, message, key = self._desk_pending.pop(0)
            try:
                self.desk.event(type_, message, key=key)
            except Exception as e:  # the desk's store is down: the event line and the log said it
                log.error("could not publish the %s event to the desk: %s", type_, first_line(e))
