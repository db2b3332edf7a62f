"""Choose the bus from the configuration: Redis Streams when a Redis URL is set, else in-process."""

from __future__ import annotations

from typing import Literal

from tftrade.stream.bus import Bus
from tftrade.stream.errors import BusError
from tftrade.stream.memory import InMemoryBus

BusKind = Literal["auto", "memory", "redis"]


def make_bus(kind: BusKind = "auto", redis_url: str | None = None, *, prefix: str = "tftrade",
             maxlen: int = 1_000_000) -> Bus:
    """Return an :class:`InMemoryBus` or a :class:`~tftrade.stream.redis_bus.RedisStreamsBus`.

    ``auto`` picks Redis when ``redis_url`` is set.

    Raises
    ------
    BusError
        If ``redis`` is asked for without a URL.

    Examples
    --------
    >>> type(make_bus()).__name__
    'InMemoryBus'
    """
    if kind == "memory" or (kind == "auto" and not redis_url):
        return InMemoryBus(maxlen=maxlen)
    if not redis_url:
        raise BusError("the Redis bus needs a URL: set TFTRADE_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    from tftrade.stream.redis_bus import RedisStreamsBus

    return RedisStreamsBus(redis_url, prefix=prefix, maxlen=maxlen)
