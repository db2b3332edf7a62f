"""Live fixtures: buses (in memory and Redis Streams on unique names) from the stream tests."""

from tests.stream.conftest import bus, redis_bus, redis_or_skip

__all__ = ["bus", "redis_bus", "redis_or_skip"]
