"""The bus topics (the seed's Kafka topics) and the key each message is ordered by."""

from __future__ import annotations

from typing import Literal

Topic = Literal["market_data", "social_data", "predictions", "orders", "fills"]
TOPICS: tuple[Topic, ...] = ("market_data", "social_data", "predictions", "orders", "fills")


def check_topic(topic: str) -> Topic:
    """Return ``topic`` if it is one of :data:`TOPICS`, else raise ``ValueError`` naming the choices.

    Examples
    --------
    >>> check_topic("fills")
    'fills'
    """
    if topic not in TOPICS:
        raise ValueError(f"topic {topic!r} is not one of {', '.join(TOPICS)}")
    return topic
