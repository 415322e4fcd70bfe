"""What a feed may carry and what one message to a subscriber holds: the allow-list (no
sealed personal field can be on it), the subscriber's own pseudonyms, the filter."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from shared.contracts import FEED_TOPIC_PREFIX, PAYLOADS, Payload
from shared.contracts.erasures import SubjectErased, SubjectErasureConfirmed
from shared.errors import ConflictError, InvalidInputError
from shared.privacy import TOKEN_PATTERN, TOKEN_PREFIX

log = logging.getLogger(__name__)

SUBSCRIBER_NAME = r"^[a-z0-9][a-z0-9-]{1,39}$"
TOMBSTONE = SubjectErased.event_type
NOT_FOR_FEEDS = frozenset({SubjectErased.event_type, SubjectErasureConfirmed.event_type})
"""Event types no allow-list may name (tombstones reach every subscriber anyway)."""


class FeedFieldNotAllowedError(InvalidInputError):
    code = "feed_field_not_allowed"


class FeedOfOtherDistrictsError(ConflictError):
    """The name is registered for districts the officer does not hold."""

    code = "feed_of_other_districts"


def feed_topic(subscriber: str) -> str:
    return FEED_TOPIC_PREFIX + subscriber


# --- the allow-list: which fields exist, which are sealed --------------------------------


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _resolve(defs[ref.rsplit("/", 1)[-1]], defs)
    return schema


def _contains_sealed(schema: Any, defs: Mapping[str, Any], seen: frozenset[str]) -> bool:
    if isinstance(schema, list):
        return any(_contains_sealed(item, defs, seen) for item in schema)
    if not isinstance(schema, Mapping):
        return False
    if schema.get("pattern") == TOKEN_PATTERN:
        return True
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return name not in seen and _contains_sealed(defs[name], defs, seen | {name})
    return any(_contains_sealed(value, defs, seen) for value in schema.values())


def _field_schema(payload_type: type[Payload], path: str) -> tuple[Any, Mapping[str, Any]]:
    """The JSON schema of a dotted ``path`` in the payload (``None`` if there is none)."""
    root = payload_type.model_json_schema()
    defs = root.get("$defs", {})
    schema: Any = root
    for part in path.split("."):
        schema = _resolve(schema, defs)
        branches = schema.get("anyOf", [schema])
        found = None
        for branch in branches:
            properties = _resolve(branch, defs).get("properties", {})
            if part in properties:
                found = properties[part]
        if found is None:
            return None, defs
        schema = found
    return schema, defs


def check_allow_list(allow: Mapping[str, Sequence[str]]) -> None:
    """Refuse unknown event types and fields, and every field that is (or holds) a sealed
    personal field."""
    for event_type, fields in allow.items():
        payload_type = PAYLOADS.get(event_type)
        if payload_type is None or event_type in NOT_FOR_FEEDS:
            raise FeedFieldNotAllowedError(f"no event type {event_type!r} for feeds")
        for path in fields:
            schema, defs = _field_schema(payload_type, path)
            if schema is None:
                raise FeedFieldNotAllowedError(f"{event_type} has no field {path!r}")
            if _contains_sealed(schema, defs, frozenset()):
                raise FeedFieldNotAllowedError(
                    f"{event_type}.{path} is personal data (sealed): never in a feed"
                )


# --- the filter ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscriber:
    name: str
    purpose: str
    allow: Mapping[str, Sequence[str]]
    key: bytes
    """The subscriber's own pseudonymisation key (random, 32 bytes)."""
    districts: frozenset[str] = frozenset()
    """Whose events it gets: the districts of the officer who registered it."""

    @property
    def topic(self) -> str:
        return feed_topic(self.name)

    def pseudonym(self, value: UUID) -> UUID:
        """The subscriber's keyed pseudonym of a person or of any id."""
        digest = hmac.new(self.key, value.bytes, hashlib.sha256).digest()
        return UUID(bytes=digest[:16], version=4)


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _holds_token(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith(TOKEN_PREFIX)
    if isinstance(value, Mapping):
        return any(_holds_token(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_token(v) for v in value)
    return False


def _keyed(subscriber: Subscriber, value: Any) -> Any:
    if isinstance(value, str) and _UUID.match(value):
        return str(subscriber.pseudonym(UUID(value)))
    if isinstance(value, Mapping):
        return {k: _keyed(subscriber, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keyed(subscriber, v) for v in value]
    return value


def _pick(payload: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _place(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def feed_message(subscriber: Subscriber, envelope: Mapping[str, Any]) -> dict[str, Any] | None:
    """What ``subscriber`` gets of one product event (a JSON envelope), or ``None``.

    A ``SubjectErased`` becomes the tombstone of the subscriber's pseudonym of the person.
    """
    event_type = str(envelope["event_type"])
    if event_type == TOMBSTONE:
        data: dict[str, Any] = {}
    elif event_type in subscriber.allow and envelope["district"] in subscriber.districts:
        data = {}
        payload = envelope.get("payload") or {}
        for path in subscriber.allow[event_type]:
            present, value = _pick(payload, path)
            if not present:
                continue
            if _holds_token(value):  # never, whatever the allow-list says
                log.warning("sealed field kept out of a feed", extra={"field": path})
                continue
            _place(data, path, _keyed(subscriber, value))
    else:
        return None
    return {
        "feed_event_id": str(subscriber.pseudonym(UUID(str(envelope["event_id"])))),
        "event_type": event_type,
        "occurred_at": envelope["occurred_at"],
        "district": envelope["district"],
        "person": str(subscriber.pseudonym(UUID(str(envelope["subject"])))),
        "data": data,
    }
