"""Integration-event contracts: the envelope, every payload, the topics."""

from __future__ import annotations

from typing import Any

from shared.contracts import coaching, contacts, erasures, notifications, visits
from shared.contracts.envelope import Envelope, Payload, stable_event_id

TOPICS: dict[str, str] = {
    "contacts": "outreach.contacts",
    "visits": "outreach.visits",
    "coaching": "outreach.coaching",
    "notifications": "outreach.notifications",
}
"""The topic each service publishes to, by producer."""

DLQ_SUFFIX = ".dlq"

PAYLOADS: dict[str, type[Payload]] = {
    p.event_type: p
    for p in (
        *contacts.EVENTS,
        *visits.EVENTS,
        *coaching.EVENTS,
        *notifications.EVENTS,
        *erasures.EVENTS,
    )
}
"""Every payload contract by event type."""


def topic_of(producer: str) -> str:
    return TOPICS[producer]


def dead_letter_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


CHAIN_ANCHOR_TOPIC = "outreach.chain-anchors"
"""Where every service anchors the head of its event chain (see shared.chain)."""

ERASURE_TOPIC = "outreach.erasures"
"""``SubjectErased`` tombstones (published by contacts) and every service's
``SubjectErasureConfirmed``; every service consumes it (see shared.erasure)."""

FEED_TOPIC_PREFIX = "outreach.feed."
"""``outreach.feed.<subscriber>``: the pseudonymised feed of one subscriber (contacts.feeds)."""


def all_topics() -> list[str]:
    published = [*TOPICS.values(), ERASURE_TOPIC]
    topics = [t for topic in published for t in (topic, dead_letter_topic(topic))]
    return [*topics, CHAIN_ANCHOR_TOPIC]


def parse_envelope(raw: bytes | str | dict[str, Any]) -> Envelope[Payload]:
    """Validate an incoming message against the envelope and its payload contract.

    JSON is read by pydantic's parser, which refuses nesting deeper than its limit with a
    ``ValueError`` (Python's ``json`` would recurse until ``RecursionError``)."""
    from pydantic_core import from_json

    data = from_json(raw) if isinstance(raw, bytes | str) else raw
    event_type = data.get("event_type") if isinstance(data, dict) else None
    payload_type = PAYLOADS.get(str(event_type))
    if payload_type is None:
        raise UnknownEventTypeError(f"unknown event type: {event_type!r}")
    version = data.get("schema_version")
    if version != payload_type.schema_version:
        raise UnknownEventTypeError(f"unknown schema version {version!r} of {event_type}")
    return Envelope[payload_type].model_validate(data)  # type: ignore[valid-type]


class UnknownEventTypeError(ValueError):
    pass


__all__ = [
    "ERASURE_TOPIC",
    "FEED_TOPIC_PREFIX",
    "PAYLOADS",
    "TOPICS",
    "Envelope",
    "Payload",
    "UnknownEventTypeError",
    "all_topics",
    "dead_letter_topic",
    "parse_envelope",
    "stable_event_id",
    "topic_of",
]
