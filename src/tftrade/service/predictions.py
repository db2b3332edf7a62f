"""The latest forecast per ticker and horizon, as the API serves it: decoded once, encoded once per change.

The book lives in the cache (``predictions:latest``, with a sequence number under
``predictions:seq``) so every API process of a deployment serves the same forecasts; each
process keeps a decoded copy and the encoded answer for "all tickers", and reloads only when
the sequence number moves. Writers: the API's ``POST /predict``, the bus consumer of the
``predictions`` topic, and start-up (the newest rows of ``tft_predictions``).

Answers are compact JSON (msgspec; the same values ``json`` would write, without the spaces)
and carry an ``ETag`` (a hash of the bytes), so a client that sends ``If-None-Match`` is told
"not modified" instead of being sent 2,500 forecasts again.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np

from tftrade.stream.cache import Cache

LATEST_KEY = "predictions:latest"
SEQ_KEY = "predictions:seq"
FIELDS = ("ticker", "horizon", "as_of", "timeframe", "current_price", "q10", "q50", "q90", "predicted_return",
          "confidence_score", "model_version", "features_hash")
EXTRAS = ("stale", "bar_age_seconds")
"""Fields served when the forecast carries them (stored rows do; bus messages do not)."""


def json_value(value: Any) -> Any:
    """``value`` as a JSON scalar: ``Decimal`` (a store's ``Numeric``) and numpy scalars become
    ``float``/``int``/``bool``, datetimes ISO 8601 text; anything else is returned as is.

    Examples
    --------
    >>> json_value(Decimal("12.500")), json_value(np.int64(3)), json_value(np.bool_(True)), json_value(None)
    (12.5, 3, True, None)
    """
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def prediction_row(raw: dict[str, Any]) -> dict[str, Any]:
    """Normalise a forecast (store row, dataclass dict or bus message) to the API's JSON shape.

    :data:`FIELDS`, and :data:`EXTRAS` when present, each a JSON scalar (:func:`json_value`), so the
    row goes into the cache (JSON) and the answer whatever database or model it came from.

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
        row[key] = json_value(value)
    row["ticker"] = str(row["ticker"]).upper()
    for extra in EXTRAS:
        if extra in raw:
            row[extra] = json_value(raw[extra])
    if row.get("stale") is not None:
        row["stale"] = bool(row["stale"])
    return row


def encode(rows: list[dict[str, Any]], *, finite: bool = False) -> bytes:
    """``{"predictions": rows, "count": len(rows)}`` as compact JSON.

    The values are those ``json.dumps`` writes (floats to the same double); a non-finite float
    (which msgspec would write as ``null``) sends the document through ``json`` instead, as
    before. ``finite``: the caller checked that every float is finite.

    Examples
    --------
    >>> encode([{"ticker": "A", "q50": 1e-05}])
    b'{"predictions":[{"ticker":"A","q50":0.00001}],"count":1}'
    >>> encode([{"q50": float("nan")}])
    b'{"predictions": [{"q50": NaN}], "count": 1}'
    """
    doc = {"predictions": rows, "count": len(rows)}
    try:
        out = msgspec.json.encode(doc)
    except TypeError:  # a type msgspec does not write (rows are normalised by prediction_row, so not expected)
        return json.dumps(doc).encode()
    if not finite and b"null" in out and not _all_finite(rows):
        return json.dumps(doc).encode()
    return out


def _all_finite(rows: list[dict[str, Any]]) -> bool:
    return all(math.isfinite(v) for r in rows for v in r.values() if isinstance(v, float))


def etag(body: bytes) -> str:
    """A strong entity tag of a JSON answer (a hash of its bytes)."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def not_modified(if_none_match: str | None, tag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``tag`` (``*`` names any; weak tags compare by their value).

    Examples
    --------
    >>> not_modified('W/"a", "b"', '"b"'), not_modified('"a"', '"b"'), not_modified(None, '"b"')
    (True, False, False)
    """
    if not if_none_match:
        return False
    return any(t.strip().removeprefix("W/") in (tag, "*") for t in if_none_match.split(","))


class EncodedRows(list[dict[str, Any]]):
    """Forecast rows that come with their answer already encoded (``payload``: :func:`encode` of the rows
    normalised by :func:`prediction_row`, sorted by ticker and horizon); ``shown``: those normalised rows,
    when the maker kept them (the :class:`PredictionBook` then takes them as they are)."""

    def __init__(self, rows: list[dict[str, Any]], payload: bytes,
                 shown: list[dict[str, Any]] | None = None) -> None:
        super().__init__(rows)
        self.payload = payload
        self.shown = shown


class PredictionBook:
    """Latest forecasts keyed by (ticker, horizon), shared through a :class:`Cache`.

    The process keeps the decoded rows, the encoded answer for all tickers and its ``ETag``
    for the cache's sequence number; a new sequence number (a write by any process) reloads them.
    """

    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self._lock = threading.Lock()
        self._seq = -1
        self._latest: list[dict[str, Any]] = []
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._all: bytes = encode([])
        self._tag = etag(self._all)

    def update(self, rows: Iterable[dict[str, Any]]) -> int:
        """Merge forecasts into the book (newer ``as_of`` wins per ticker and horizon); return how many changed.

        Rows that come normalised and encoded (:class:`EncodedRows` with ``shown``) are taken as they
        are, and when they replace every forecast of the book their payload is the book's answer
        (no second normalisation or encoding of the same 2,500 rows).
        """
        shown = rows.shown if isinstance(rows, EncodedRows) else None
        with self._lock:
            seq = self._cache.get(SEQ_KEY) or 0
            latest = self._latest if seq == self._seq else (self._cache.get(LATEST_KEY) or [])
            current = {(r["ticker"], r["horizon"]): r for r in latest}
            changed = 0
            for row in shown if shown is not None else map(prediction_row, rows):
                key = (row["ticker"], row["horizon"])
                old = current.get(key)
                if old is None or (row["as_of"] or "") >= (old["as_of"] or ""):
                    current[key] = row
                    changed += 1
            if changed:
                whole = shown is not None and changed == len(shown) == len(current)
                merged = shown if whole else sorted(current.values(), key=lambda r: (r["ticker"], r["horizon"]))
                assert merged is not None
                self._cache.put(LATEST_KEY, merged)
                self._cache.put(SEQ_KEY, seq + 1)
                self._load(merged, seq + 1, rows.payload if whole and isinstance(rows, EncodedRows) else None)
        return changed

    def _load(self, rows: list[dict[str, Any]], seq: int, encoded: bytes | None = None) -> None:
        by_ticker: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_ticker.setdefault(r["ticker"], []).append(r)
        self._latest, self._rows = rows, by_ticker
        self._all = encoded if encoded is not None else encode(rows)
        self._tag = etag(self._all)
        self._seq = seq

    def _refresh(self) -> None:
        seq = self._cache.get(SEQ_KEY) or 0
        if seq == self._seq:
            return
        with self._lock:
            self._load(self._cache.get(LATEST_KEY) or [], seq)

    def encoded(self, tickers: list[str] | None = None) -> bytes:
        """The JSON answer of ``GET /predictions`` for ``tickers`` (all when ``None``)."""
        return self.answer(tickers)[0]

    def answer(self, tickers: list[str] | None = None) -> tuple[bytes, str]:
        """The JSON answer of ``GET /predictions`` for ``tickers`` (all when ``None``) and its ``ETag``."""
        self._refresh()
        if not tickers:
            return self._all, self._tag
        rows = [r for t in dict.fromkeys(x.upper() for x in tickers) for r in self._rows.get(t, [])]
        body = encode(rows)
        return body, etag(body)

    def tickers(self) -> list[str]:
        """Tickers with at least one forecast."""
        self._refresh()
        return sorted(self._rows)


class PredictAnswers:
    """The encoded answers of ``POST /predict``, kept for the rows they were made of.

    The served model hands out the same row objects until a new bar arrives, so a repeated
    request is answered with the bytes encoded the first time, and only new rows need to go
    into the :class:`PredictionBook`. Rows that come encoded (:class:`EncodedRows`) are
    answered with their own payload.
    """

    def __init__(self, keep: int = 8) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._answers: dict[tuple[int, ...], tuple[list[dict[str, Any]], bytes]] = {}

    def answer(self, rows: list[dict[str, Any]]) -> tuple[bytes, bool]:
        """The JSON answer for ``rows`` (sorted by ticker and horizon) and whether these rows are new."""
        # the rows are held below, so their ids are not reused meanwhile (encoded rows: the one object)
        key = (id(rows),) if isinstance(rows, EncodedRows) else tuple(id(r) for r in rows)
        with self._lock:
            hit = self._answers.get(key)
        if hit is not None:
            return hit[1], False
        if isinstance(rows, EncodedRows):
            payload = rows.payload
        else:
            payload = encode(sorted((prediction_row(r) for r in rows), key=lambda r: (r["ticker"], r["horizon"])))
        with self._lock:
            if len(self._answers) >= self._keep:
                self._answers.pop(next(iter(self._answers)))
            self._answers[key] = (rows, payload)
        return payload, True
