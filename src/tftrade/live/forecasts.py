"""The predictions the trade worker has read from the bus, served to the strategy like a forecast panel."""

from __future__ import annotations

import logging

import numpy as np

from tftrade.core.types import Float64Array
from tftrade.stream.messages import PredictionMessage

log = logging.getLogger(__name__)

NO_FORECAST_HORIZON = 0
"""``horizon`` of a prediction message that says "no forecast for this ticker at this bar".

The predict worker publishes one message per ticker of the universe at every bar, forecast or
not (a bar it cannot forecast at all carries the ``reason``), so the trade worker knows when a
bar's predictions are complete without waiting.
"""


class LiveForecasts:
    """Predictions per bar, as :class:`~tftrade.strategy.forecasts.ForecastRows` (what the strategy reads).

    Bars the trade worker has not stepped past yet are all kept (the predict worker can run far
    ahead of it, e.g. in a replay); of the bars it has passed (:meth:`passed`) only the last
    ``keep`` are. Each ticker's column of a bar remembers the ``model_version`` of the message it
    holds, so :meth:`version_at` names the model(s) behind a bar's forecasts (the audit trail's
    ``decision`` entries record it) without a look anywhere else.
    """

    def __init__(self, tickers: tuple[str, ...], horizon: int, keep: int = 64) -> None:
        self.tickers, self._horizon, self.keep = tickers, horizon, keep
        self._index = {t: i for i, t in enumerate(tickers)}
        self._rows: dict[int, tuple[Float64Array, dict[int, str]]] = {}  # as_of -> (4 × n values, column -> version)
        self._passed: int | None = None
        self.last_latency_ns: int | None = None
        self.wrong_horizon = 0
        """Predictions ignored because they are for another horizon than this worker trades."""
        self._warned: set[int] = set()

    @property
    def horizon(self) -> int:
        """Bars ahead."""
        return self._horizon

    def add(self, message: PredictionMessage) -> None:
        """Take one prediction (an unknown ticker or a repeat of a known one changes nothing)."""
        i = self._index.get(message.ticker)
        if i is None:
            return
        if message.horizon not in (self._horizon, NO_FORECAST_HORIZON):  # another model's: never traded as ours
            self.wrong_horizon += 1
            if message.horizon not in self._warned:
                self._warned.add(message.horizon)
                log.error("predictions %d bars ahead from model version %s ignored: this trade worker trades "
                          "%d-bar forecasts (restart the predict and trade workers on the same model)",
                          message.horizon, message.model_version or "?", self._horizon)
            return
        got = self._rows.get(message.as_of_ns)
        if got is None:
            got = (np.full((4, len(self.tickers)), np.nan), {})
            self._rows[message.as_of_ns] = got
            self._trim()
        values, seen = got  # a redelivered message counts once
        if message.horizon != NO_FORECAST_HORIZON:
            values[:, i] = (message.q10, message.q50, message.q90, message.confidence_score)
            seen[i] = message.model_version  # the model of the values the column now holds
        elif i not in seen:
            seen[i] = message.model_version
        if message.latency_ns is not None:
            self.last_latency_ns = message.latency_ns

    def passed(self, timestamp_ns: int) -> None:
        """The trade worker has stepped the bar at ``timestamp_ns``: older bars may be dropped."""
        self._passed = timestamp_ns if self._passed is None else max(self._passed, timestamp_ns)
        self._trim()

    def _trim(self) -> None:
        if self._passed is None:
            return
        behind = sorted(t for t in self._rows if t <= self._passed)
        for old in behind[:-self.keep] if len(behind) > self.keep else ():
            del self._rows[old]

    def complete(self, timestamp_ns: int) -> bool:
        """True once every ticker's message for the bar at ``timestamp_ns`` has arrived."""
        got = self._rows.get(timestamp_ns)
        return got is not None and len(got[1]) == len(self.tickers)

    def version_at(self, timestamp_ns: int) -> str | None:
        """The model version of the forecasts held for the bar at ``timestamp_ns`` (those of the tickers with a
        forecast; with none, those of the "no forecast" messages); ``None`` when none is known.

        Every ticker's message of a bar comes from one predictor (a new champion takes over at a bar
        boundary); should a bar hold forecasts of several versions, they are all named, sorted, joined by
        ``" + "``.
        """
        got = self._rows.get(timestamp_ns)
        if got is None:
            return None
        values, versions = got
        forecast = np.isfinite(values[1])
        used = {v for i, v in versions.items() if v and forecast[i]} or {v for v in versions.values() if v}
        return " + ".join(sorted(used)) if used else None

    def row(self, timestamp_ns: int, tickers: tuple[str, ...]) -> tuple[Float64Array, ...] | None:
        """``(q10, q50, q90, confidence)`` made at ``timestamp_ns``; ``None`` when no ticker has one."""
        got = self._rows.get(timestamp_ns)
        if got is None or not np.isfinite(got[0][1]).any():
            return None
        values = got[0]
        if tickers == self.tickers:
            return tuple(values[k].copy() for k in range(4))
        cols = np.array([self._index.get(t, -1) for t in tickers])
        ok = cols >= 0
        out = []
        for k in range(4):
            v = np.full(len(tickers), np.nan)
            v[ok] = values[k, cols[ok]]
            out.append(v)
        return tuple(out)
