"""The ``Bus`` port: publish, consumer-group subscribe, read, ack and reclaim.

Semantics every implementation passes (``tests/stream/test_conformance.py``):

- **at least once**: a message read by a consumer stays *pending* in its group until acked;
  a consumer that re-subscribes (a restart) first gets back its own pending messages, and
  :meth:`Bus.reclaim` hands another consumer the messages a dead one left pending longer
  than ``min_idle_ms``. A message may therefore arrive twice; consumers make writes
  idempotent (the store's keys do).
- **ordering**: one topic is one ordered log; a consumer receives new messages in publish
  order, so messages of one key (ticker, order id) arrive in the order they were published.
  Redeliveries come back in log order too.
- **groups**: every group sees every message; consumers of one group share them.
- **malformed payloads are delivered, not dropped**: a payload that does not decode arrives
  as a :class:`Delivery` with ``message=None`` and ``error`` set, so the consumer can
  quarantine ``raw`` with the reason and ack it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from tftrade.stream.errors import MessageError
from tftrade.stream.messages import Message, decode, decode_many
from tftrade.stream.topics import Topic


class Delivery(msgspec.Struct, frozen=True, gc=False):
    """One message handed to a consumer: its id (ack it), the decoded message or the decode error, the raw bytes.

    A frozen ``msgspec.Struct`` (not a dataclass): a consumer builds one per message, and a
    frozen dataclass costs more to build than decoding the message does.
    """

    topic: Topic
    id: str
    raw: bytes
    message: Message | None
    error: str | None = None
    redelivered: bool = False


def make_delivery(topic: Topic, msg_id: str, raw: bytes, *, redelivered: bool = False) -> Delivery:
    """Decode ``raw`` into a :class:`Delivery` (``message=None`` and ``error`` set if it does not decode)."""
    try:
        return Delivery(topic, msg_id, raw, decode(raw), None, redelivered)
    except MessageError as e:
        return Delivery(topic, msg_id, raw, None, str(e), redelivered)


def make_deliveries(topic: Topic, ids: Sequence[str], raws: Sequence[bytes], *,
                    redelivered: bool = False) -> tuple[list[Delivery], int]:
    """:func:`make_delivery` of each (id, payload), decoding them all in one call when they all decode.

    Returns the deliveries and how many of them did not decode.
    """
    msgs = decode_many(list(raws))
    if msgs is None:
        out = [make_delivery(topic, i, r, redelivered=redelivered) for i, r in zip(ids, raws, strict=True)]
        return out, sum(d.error is not None for d in out)
    return [Delivery(topic, i, r, m, None, redelivered) for i, r, m in zip(ids, raws, msgs, strict=True)], 0


class Bus(Protocol):
    """A message bus of named topics with consumer groups (see the module text for the guarantees)."""

    def publish(self, topic: Topic, message: Message) -> str:
        """Append one message to ``topic``; return its id."""
        ...

    def publish_many(self, topic: Topic, messages: Sequence[Message]) -> list[str]:
        """Append many messages in order, in one round trip where the bus allows; return their ids."""
        ...

    def publish_raw(self, topic: Topic, raw: bytes) -> str:
        """Append an already-encoded payload as is (replays, fault injection); return its id."""
        ...

    def subscribe(self, topic: Topic, group: str, consumer: str, *, from_start: bool = True) -> None:
        """Join ``consumer`` to ``group`` on ``topic`` (creating the group: from the first message, or only new ones).

        Subscribing again (a restart) makes the consumer's next reads return its own pending
        messages first.
        """
        ...

    def read(self, topic: Topic, group: str, consumer: str, *, count: int = 512,
             block_ms: int = 100) -> list[Delivery]:
        """Return up to ``count`` messages for ``consumer``, waiting up to ``block_ms`` when there are none."""
        ...

    def ack(self, topic: Topic, group: str, ids: Sequence[str]) -> int:
        """Mark messages processed by ``group``; return how many were pending."""
        ...

    def reclaim(self, topic: Topic, group: str, consumer: str, *, min_idle_ms: int,
                count: int = 512) -> list[Delivery]:
        """Take over messages of ``group`` pending longer than ``min_idle_ms`` (a dead consumer's) for ``consumer``."""
        ...

    def pending(self, topic: Topic, group: str) -> int:
        """How many messages of ``group`` are read but not acked."""
        ...

    def length(self, topic: Topic) -> int:
        """How many messages ``topic`` holds."""
        ...

    def stats(self) -> dict[str, int]:
        """Counters: published, delivered, redelivered, reclaimed, acked, decode_errors, reconnects."""
        ...

    def close(self) -> None:
        """Release connections; the bus is unusable afterwards."""
        ...
