"""The message bus: the ``Bus`` port, ``InMemoryBus`` (default), ``RedisStreamsBus``, and the typed messages.

Topics are ``market_data``, ``social_data``, ``predictions``, ``orders`` and ``fills``;
every message is a versioned record of :mod:`tftrade.stream.messages` with one serialisation.
"""

from tftrade.stream.bus import Bus, Delivery
from tftrade.stream.errors import BusError, MessageError
from tftrade.stream.memory import InMemoryBus
from tftrade.stream.messages import (
    BarMessage,
    CommentMessage,
    FillMessage,
    MalformedFrame,
    Message,
    OrderMessage,
    PredictionMessage,
    decode,
    encode,
)
from tftrade.stream.topics import TOPICS, Topic

__all__ = [
    "TOPICS",
    "BarMessage",
    "Bus",
    "BusError",
    "CommentMessage",
    "Delivery",
    "FillMessage",
    "InMemoryBus",
    "MalformedFrame",
    "Message",
    "MessageError",
    "OrderMessage",
    "PredictionMessage",
    "Topic",
    "decode",
    "encode",
]
