"""The model the API serves: the registry's champion, loaded once and reloaded when a newer one is registered."""

from __future__ import annotations

import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tftrade.forecast.training import Trained
from tftrade.forecast.workflows import RegistryRef, predict_loaded


class ServingModel:
    """Keep one trained model in memory for ``POST /predict`` and ``/explain``.

    :meth:`refresh` (called by the API's watcher) loads a newer registered version and
    returns it, so the service can announce the promotion.
    """

    def __init__(self, engine: Engine, home: Path, registry: RegistryRef) -> None:
        self._engine, self._home, self._registry = engine, home, registry
        self._lock = threading.Lock()
        self._trained: Trained | None = None
        self.version: str | None = None

    def versions(self) -> list[str]:
        """Registered versions, oldest first."""
        return self._registry.open(self._home).versions()

    def refresh(self) -> str | None:
        """Load the newest registered version if it is not the one served; return it (``None``: unchanged)."""
        known = self.versions()
        if not known or known[-1] == self.version:
            return None
        trained, version = self._registry.open(self._home).load(known[-1])
        with self._lock:
            self._trained, self.version = trained, version
        return version

    def _model(self) -> tuple[Trained, str]:
        if self._trained is None:
            self.refresh()
        if self._trained is None or self.version is None:
            from tftrade.forecast.errors import ModelNotFoundError

            raise ModelNotFoundError("no model registered: run `tftrade train` first")
        return self._trained, self.version

    def predict(self, tickers: list[str] | None) -> list[dict[str, Any]]:
        """Forecast the latest bar of ``tickers`` (default: the model's universe)."""
        trained, version = self._model()
        rows, _skipped = predict_loaded(self._engine, trained, version, tickers)
        return [asdict(f) for f in rows]

    def explain(self, ticker: str) -> dict[str, Any]:
        """Variable importance and attention at ``ticker``'s latest window."""
        from tftrade.forecast.workflows import explain_ticker

        _, version = self._model()
        explanation, v = explain_ticker(self._engine, self._home, ticker, version, registry=self._registry)
        return {"ticker": ticker.upper(), "model_version": v, **asdict(explanation)}
