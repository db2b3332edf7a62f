"""The records that travel on the bus, and their one serialisation (JSON via msgspec).

Every record is a frozen, typed struct tagged with its kind (``"type"``) and a schema
version (``"v"``). A payload of an unknown kind, a newer version, or with a field of the
wrong type fails to decode with :class:`~tftrade.stream.errors.MessageError`, whose text is
the reason a consumer quarantines the raw payload with.

Times are epoch nanoseconds UTC. Bar prices are the vendor's numbers; the ingest worker
validates them and stores them as exact 1/10,000 ticks.

Examples
--------
>>> bar = BarMessage("AAPL", 1_704_205_800_000_000_000, 185.0, 185.5, 184.9, 185.2, 1200.0, source="massive")
>>> decode(encode(bar)) == bar
True
>>> decode(b'{"type":"bar","v":9}')
Traceback (most recent call last):
...
tftrade.stream.errors.MessageError: bar: schema version 9 is not supported (this build reads 1)
"""

from __future__ import annotations

from operator import attrgetter
from typing import Final

import msgspec

from tftrade.stream.errors import MessageError

SCHEMA_VERSION: Final = 1


class _Record(msgspec.Struct, frozen=True, tag_field="type", kw_only=False):
    """Base of every bus record."""

    @property
    def key(self) -> str:
        """The ordering key (a ticker, a comment or order id)."""
        raise NotImplementedError


class BarMessage(_Record, frozen=True, tag="bar"):
    """One OHLCV bar from a vendor, a replay or a backfill."""

    ticker: str
    start_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    timeframe: str = "1min"
    vwap: float | None = None
    trades: int | None = None
    source: str = ""
    received_ns: int = 0
    v: int = SCHEMA_VERSION

    @property
    def key(self) -> str:
        return self.ticker


class CommentMessage(_Record, frozen=True, tag="comment"):
    """One social comment as the source read it (Reddit's field names)."""

    id: str
    body: str
    created_utc: float
    author: str | None = None
    subreddit: str | None = None
    link_id: str | None = None
    score: int | None = None
    source: str = ""
    received_ns: int = 0
    v: int = SCHEMA_VERSION

    @property
    def key(self) -> str:
        return self.id


class PredictionMessage(_Record, frozen=True, tag="prediction"):
    """One ticker's quantile forecast (see :class:`tftrade.core.prediction.Prediction`).

    ``horizon=0`` says "no forecast for this ticker at this bar" (the quantiles are then 0) and
    ``reason`` says why (warm-up, inputs rejected, ...). ``reason`` was added within version 1
    with a default, so a payload without it still decodes (``""``), and a build that does not
    know it ignores it.
    """

    ticker: str
    as_of_ns: int
    horizon: int
    current_price: float
    q10: float
    q50: float
    q90: float
    predicted_return: float
    confidence_score: float
    timeframe: str = "1min"
    model_version: str = ""
    features_hash: str = ""
    latency_ns: int | None = None
    reason: str = ""
    v: int = SCHEMA_VERSION

    @property
    def key(self) -> str:
        return self.ticker


class OrderMessage(_Record, frozen=True, tag="order"):
    """An order handed to a broker (see :class:`tftrade.core.orders.Order`)."""

    client_order_id: str
    ticker: str
    quantity: float
    order_type: str = "market"
    limit_price: float | None = None
    created_ns: int = 0
    rationale: str = ""
    v: int = SCHEMA_VERSION

    @property
    def key(self) -> str:
        return self.client_order_id


class FillMessage(_Record, frozen=True, tag="fill"):
    """A fill reported by a broker (see :class:`tftrade.core.orders.Fill`)."""

    client_order_id: str
    ticker: str
    quantity: float
    price: float
    commission: float
    timestamp_ns: int
    v: int = SCHEMA_VERSION

    @property
    def key(self) -> str:
        return self.client_order_id


class MalformedFrame(_Record, frozen=True, tag="malformed"):
    """A frame a source could not read: carried to the ingest worker to be quarantined, never dropped."""

    source: str
    raw: str
    reason: str
    received_ns: int = 0
    v: int = SCHEMA_VERSION

    @property
    def key(self) -> str:
        return self.source


Message = BarMessage | CommentMessage | PredictionMessage | OrderMessage | FillMessage | MalformedFrame
"""Any record the bus carries."""

_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(Message)
_MANY_DECODER: Final = msgspec.json.Decoder(list[Message])
_VERSION: Final = attrgetter("v")


def encode(message: Message) -> bytes:
    """Serialise ``message`` to its JSON bytes (the one wire format of every bus)."""
    return _ENCODER.encode(message)


def encode_many(messages: list[Message]) -> list[bytes]:
    """Serialise many messages (one JSON document each)."""
    enc = _ENCODER.encode
    return [enc(m) for m in messages]


def decode(raw: bytes | str) -> Message:
    """Parse one payload.

    Raises
    ------
    MessageError
        If ``raw`` is not JSON, names an unknown kind, a newer schema version, or has a field
        of the wrong type; the message says which.
    """
    try:
        msg: Message = _DECODER.decode(raw)
    except msgspec.ValidationError as e:
        version = _version_of(raw)
        if version is not None and version != SCHEMA_VERSION:
            raise MessageError(f"{_kind_of(raw)}: schema version {version} is not supported "
                               f"(this build reads {SCHEMA_VERSION})") from None
        raise MessageError(f"invalid message: {e}") from None
    except msgspec.DecodeError as e:
        raise MessageError(f"not a JSON message: {e}") from None
    if msg.v != SCHEMA_VERSION:
        raise MessageError(f"{type(msg).__name__}: schema version {msg.v} is not supported "
                           f"(this build reads {SCHEMA_VERSION})")
    return msg


def decode_many(raws: list[bytes]) -> list[Message] | None:
    """Parse many payloads in one call (one JSON array); ``None`` if any of them would not :func:`decode`.

    The fast path of a consumer's batch: the caller decodes one by one when this returns ``None``,
    so each bad payload gets its own error.

    Examples
    --------
    >>> bar = BarMessage("AAPL", 0, 1.0, 1.0, 1.0, 1.0, 0.0)
    >>> decode_many([encode(bar), encode(bar)]) == [bar, bar], decode_many([encode(bar), b"{"])
    (True, None)
    """
    if not raws:
        return []
    try:
        msgs: list[Message] = _MANY_DECODER.decode(b"[" + b",".join(raws) + b"]")
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if len(msgs) != len(raws) or set(map(_VERSION, msgs)) != {SCHEMA_VERSION}:
        return None  # a payload that was not one JSON value, or a version this build does not read
    return msgs


def _version_of(raw: bytes | str) -> int | None:
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    v = obj.get("v") if isinstance(obj, dict) else None
    return v if isinstance(v, int) else None


def _kind_of(raw: bytes | str) -> str:
    obj = msgspec.json.decode(raw)
    return str(obj.get("type", "?")) if isinstance(obj, dict) else "?"
