"""The model the API serves: the registry's champion, loaded once and reloaded when another is named.

The version is chosen by the registry's one rule (:meth:`~tftrade.forecast.registry.ModelRegistry.select`):
the champion (MLflow alias ``champion``, set with ``tftrade models promote``) when one is set, else the newest
registered version, and :attr:`ServingModel.selection` says which.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Engine

from tftrade.forecast.inference import intra_op_threads
from tftrade.forecast.training import Trained
from tftrade.forecast.workflows import RegistryRef, latest_window_bars, predict_loaded
from tftrade.service.rolling import RollingWindow, usable
from tftrade.service.timing import mark

#: Seconds after which the bar cache is read whole again (a correction to an older bar shows up then).
FULL_RELOAD_S = 300.0
Selection = Literal["champion", "newest"]


class _Turn:
    """The rolling window's lock, knowing who holds it and whether requests wait for it.

    A request's wait is marked on its clock by who held the window (``wait_warm``: the poll loop
    was making the same minute's answer; ``wait_prepare``: the next bar's groundwork), or
    ``window_lock`` when it was free.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self._requests = 0
        self.holder = ""

    @property
    def requested(self) -> bool:
        """Whether a request holds or waits for the window."""
        return self._requests > 0

    @contextmanager
    def hold(self, who: str) -> Iterator[None]:
        """Hold the window as ``who`` (``request`` counts in :attr:`requested` while it waits and holds)."""
        request = who == "request"
        if request:
            with self._count:
                self._requests += 1
        try:
            if self._lock.acquire(blocking=False):
                mark("window_lock")
            else:
                held_by = self.holder or "other"
                self._lock.acquire()
                mark(f"wait_{held_by}")
            self.holder = who
            try:
                yield
            finally:
                self.holder = ""
                self._lock.release()
        finally:
            if request:
                with self._count:
                    self._requests -= 1


class ServingModel:
    """Keep one trained model in memory for ``POST /predict`` and ``/explain``.

    :meth:`refresh` (called by the API's poll loop) loads the version to serve when it changes:
    the registry's champion, or the newest registered version while no champion is set.
    """

    def __init__(self, engine: Engine, home: Path, registry: RegistryRef, *, threads: int = 1) -> None:
        self._engine, self._home, self._registry = engine, home, registry
        self.threads = threads
        """Torch intra-op threads of the forecasts (``serve``: ``service.predict_threads``)."""
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._trained: Trained | None = None
        self.version: str | None = None
        """The version served (``None`` until one is loaded)."""
        self.selection: Selection | None = None
        """Why :attr:`version` is served: it is the ``champion``, or the ``newest`` (no champion set)."""
        self.champion: str | None = None
        """The registry's champion at the last :meth:`refresh` (``None``: none set)."""
        self._bars: pd.DataFrame | None = None
        self._loaded_at = 0.0
        self._turn = _Turn()
        self.window: RollingWindow | None = None
        """The rolling window ``predict`` answers from when it can (:mod:`tftrade.service.rolling`)."""
        self.built = 0
        """Requests answered by building the panels in full (the window could not answer)."""

    def versions(self) -> list[str]:
        """Registered versions, oldest first."""
        return self._registry.open(self._home).versions()

    def refresh(self) -> str | None:
        """Load the version to serve if it is not the one served; return it (``None``: unchanged).

        The champion when the registry names one, else the newest registered version. One load at
        a time: a request and the poll loop asking together load the model once.
        """
        from tftrade.forecast.errors import ModelNotFoundError

        with self._load_lock:
            registry = self._registry.open(self._home)
            try:
                chosen = registry.select()
            except ModelNotFoundError:  # nothing registered yet
                self.champion = None
                return None
            wanted = chosen.version
            selection: Selection = "champion" if chosen.selection == "champion" else "newest"
            self.champion = wanted if selection == "champion" else None
            if wanted == self.version:
                self.selection = selection
                return None
            trained, version = registry.load(wanted)
            with self._lock:
                self._trained, self.version, self.selection, self._bars = trained, version, selection, None
            return version

    def _model(self) -> tuple[Trained, str]:
        if self._trained is None:
            self.refresh()
        if self._trained is None or self.version is None:
            from tftrade.forecast.errors import ModelNotFoundError

            raise ModelNotFoundError("no model registered: run `tftrade train` first")
        return self._trained, self.version

    def predict(self, tickers: list[str] | None) -> list[dict[str, Any]]:
        """Forecast the latest bar of ``tickers`` (default: the model's universe).

        From the rolling window when it can answer (the same forecasts as ``tftrade predict``, to
        float rounding), else by building each ticker's panel as ``tftrade predict`` does.
        """
        mark("to_thread")  # the request handed to this worker thread
        trained, version = self._model()
        wanted = [t.upper() for t in tickers] if tickers else None
        if wanted is None or set(wanted) <= set(trained.schema.tickers):
            rows = self._from_window(trained, version)
            if rows is not None:  # the same row objects until a new bar (the API keeps their encoded answer)
                keep = set(wanted or ())
                return rows if wanted is None else [r for r in rows if r["ticker"] in keep]
        self.built += 1
        with intra_op_threads(self.threads):  # see forecast.inference.intra_op_threads
            built, _skipped = predict_loaded(self._engine, trained, version, tickers, bars=self._recent_bars(trained))
        return [{f.name: getattr(r, f.name) for f in fields(r)} for r in built]

    def _from_window(self, trained: Trained, version: str) -> list[dict[str, Any]] | None:
        """Rows of the whole universe from the rolling window, or ``None`` when it cannot answer."""
        if not usable(trained):
            return None
        with self._turn.hold("request"):
            return self._window(trained, version).rows()

    def _window(self, trained: Trained, version: str) -> RollingWindow:
        w = self.window
        if w is None or w.trained is not trained:
            from tftrade.store.securities import read_securities

            sectors: dict[str, Any] = {s.ticker: s.sector for s in read_securities(self._engine)}  # as predict
            w = self.window = RollingWindow(self._engine, trained, version, sectors, threads=self.threads)
        return w

    def warm(self) -> bool:
        """Forecast a bar that landed since the last one now, before anyone asks, and prepare the next.

        The API's poll loop calls it; requests then read the answer made (and wait for it while it
        is being made, rather than making it again). A window due to be filled afresh is built
        without holding it (requests are answered from the current one meanwhile), then swapped in.
        The next bar's groundwork (:meth:`prepare`) comes after the window is released, and not
        while a request waits for it: a request that brings a new minute waits for that minute's
        answer only. ``True`` when a new bar's answer was made.
        """
        with self._lock:
            trained, version = self._trained, self.version
        if trained is None or version is None or not usable(trained):
            return False
        with self._turn.hold("warm"):
            if trained is not self._trained:  # replaced meanwhile: the next round warms the new one
                return False
            window = self._window(trained, version)
            refill = window.due()
            if not refill:
                made = window.make()
        if refill:  # built without the window's lock: requests are answered from the current window meanwhile
            fresh = window.build()
            with self._turn.hold("warm"):
                if self.window is not window:  # another model meanwhile
                    return False
                made = window.adopt(fresh)
        self.prepare()
        return made

    def prepare(self) -> None:
        """Between bars: the next bar's work that does not need it (see :meth:`RollingWindow.prepare`).

        Skipped while a request waits for the window (the next poll round, or the request's own
        ``prepare`` after its answer, does it).
        """
        if self._turn.requested:
            return
        with self._turn.hold("prepare"):
            if self.window is not None:
                self.window.prepare()

    def _recent_bars(self, trained: Trained) -> pd.DataFrame:
        """The universe's latest windows of bars, kept in memory: only bars from the newest one on are read again.

        The whole window is read afresh every :data:`FULL_RELOAD_S` seconds and when the model changes.
        """
        from tftrade.store.bars import read_bars

        universe, timeframe = trained.schema.tickers, trained.schema.timeframe
        keep = latest_window_bars(trained.config.context)
        with self._lock:
            cached, fresh = self._bars, time.monotonic() - self._loaded_at < FULL_RELOAD_S
        if cached is None or cached.empty or not fresh:
            bars = read_bars(self._engine, universe, timeframe)
            self._loaded_at = time.monotonic()
        else:
            newest = cached["window_start"].max().to_pydatetime()
            new = read_bars(self._engine, universe, timeframe, start=newest)
            bars = pd.concat([cached, new]).drop_duplicates(["ticker", "window_start"], keep="last")
            bars = bars.sort_values(["ticker", "window_start"], kind="stable")
        bars = bars.groupby("ticker", sort=False).tail(keep).reset_index(drop=True)
        with self._lock:
            self._bars = bars
        return bars

    def explain(self, ticker: str) -> dict[str, Any]:
        """Variable importance and attention at ``ticker``'s latest window."""
        from tftrade.forecast.workflows import explain_ticker

        _, version = self._model()
        explanation, v = explain_ticker(self._engine, self._home, ticker, version, registry=self._registry)
        return {"ticker": ticker.upper(), "model_version": v, **asdict(explanation)}
