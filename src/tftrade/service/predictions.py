"""The latest forecast per ticker and horizon, as the API serves it: decoded once, encoded once per change.

The book lives in the cache (``predictions:latest``, with a sequence number under
``predictions:seq``) so every API process of a deployment serves the same forecasts; each
process keeps a decoded copy and the encoded answer for "all tickers", and reloads only when
the sequence number moves. Writers: the API's ``POST /predict``, the bus consumer of the
``predictions`` topic, and start-up (the newest rows of ``tft_predictions``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tftrade.stream.cache import Cache

LATEST_KEY = "predictions:latest"
SEQ_KEY = "predictions:seq"
FIELDS = ("ticker", "horizon", "as_of", "timeframe", "current_price", "q10", "q50", "q90", "predicted_return",
          "confidence_score", "model_version", "features_hash")


def prediction_row(raw: dict[str, Any]) -> dict[str, Any]:
    """Normalise a forecast (store row, dataclass dict or bus message) to the API's JSON shape.

    Examples
    --------
    >>> prediction_row({"ticker": "aapl", "horizon": 1, "q50": Decimal("0.001"), "as_of_ns": 0})["as_of"]
    '1970-01-01T00:00:00+00:00'
    """
    row: dict[str, Any] = {}
    for key in FIELDS:
        value = raw.get(key)
        if key == "as_of" and value is None and raw.get("as_of_ns") is not None:
            value = datetime.fromtimestamp(raw["as_of_ns"] / 1e9, tz=UTC).isoformat()
        if isinstance(value, Decimal):
            value = float(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        row[key] = value
    row["ticker"] = str(row["ticker"]).upper()
    for extra in ("stale", "bar_age_seconds"):
        if extra in raw:
            row[extra] = raw[extra]
    return row


class PredictionBook:
    """Latest forecasts keyed by (ticker, horizon), shared through a :class:`Cache`."""

    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self._lock = threading.Lock()
        self._seq = -1
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._all: bytes = b'{"predictions":[],"count":0}'

    def update(self, rows: Iterable[dict[str, Any]]) -> int:
        """Merge forecasts into the book (newer ``as_of`` wins per ticker and horizon); return how many changed."""
        with self._lock:
            current = {(r["ticker"], r["horizon"]): r for r in self._cache.get(LATEST_KEY) or []}
            changed = 0
            for raw in rows:
                row = prediction_row(raw)
                old = current.get((row["ticker"], row["horizon"]))
                if old is None or (row["as_of"] or "") >= (old["as_of"] or ""):
                    current[(row["ticker"], row["horizon"])] = row
                    changed += 1
            if changed:
                self._cache.put(LATEST_KEY, sorted(current.values(), key=lambda r: (r["ticker"], r["horizon"])))
                self._cache.put(SEQ_KEY, (self._cache.get(SEQ_KEY) or 0) + 1)
        return changed

    def _refresh(self) -> None:
        seq = self._cache.get(SEQ_KEY) or 0
        if seq == self._seq:
            return
        with self._lock:
            rows = self._cache.get(LATEST_KEY) or []
            by_ticker: dict[str, list[dict[str, Any]]] = {}
            for r in rows:
                by_ticker.setdefault(r["ticker"], []).append(r)
            self._rows = by_ticker
            self._all = json.dumps({"predictions": rows, "count": len(rows)}).encode()
            self._seq = seq

    def encoded(self, tickers: list[str] | None = None) -> bytes:
        """The JSON answer of ``GET /predictions`` for ``tickers`` (all when ``None``)."""
        self._refresh()
        if not tickers:
            return self._all
        rows = [r for t in dict.fromkeys(x.upper() for x in tickers) for r in self._rows.get(t, [])]
        return json.dumps({"predictions": rows, "count": len(rows)}).encode()

    def tickers(self) -> list[str]:
        """Tickers with at least one forecast."""
        self._refresh()
        return sorted(self._rows)


class PredictAnswers:
    """The encoded answers of ``POST /predict``, kept for the rows they were made of.

    The served model hands out the same row objects until a new bar arrives, so a repeated
    request is answered with the bytes encoded the first time, and only new rows need to go
    into the :class:`PredictionBook`.
    """

    def __init__(self, keep: int = 8) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._answers: dict[tuple[int, ...], tuple[list[dict[str, Any]], bytes]] = {}

    def answer(self, rows: list[dict[str, Any]]) -> tuple[bytes, bool]:
        """The JSON answer for ``rows`` (sorted by ticker and horizon) and whether these rows are new."""
        key = tuple(id(r) for r in rows)  # the rows are held below, so their ids are not reused meanwhile
        with self._lock:
            hit = self._answers.get(key)
        if hit is not None:
            return hit[1], False
        out = sorted((prediction_row(r) for r in rows), key=lambda r: (r["ticker"], r["horizon"]))
        payload = json.dumps({"predictions": out, "count": len(out)}).encode()
        with self._lock:
            if len(self._answers) >= self._keep:
                self._answers.pop(next(iter(self._answers)))
            self._answers[key] = (rows, payload)
        return payload, True
