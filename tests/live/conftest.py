"""Live fixtures: every bus of the stream tests (in memory, Redis Streams, packed), on unique names."""

from tests.stream.conftest import *  # noqa: F403
from tests.stream.conftest import redis_or_skip

__all__ = ["redis_or_skip"]
