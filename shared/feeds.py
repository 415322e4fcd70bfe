"""Pseudonymised, purpose-limited feeds for subscribing teams of other departments.

The data protection officer registers each subscriber (``POST /dpo/feeds`` on contacts):
a name, the purpose, and an allow-list of event types and payload fields. The registration
covers the districts on the officer's token: the officer of a district passes on that
district's events only. The feed worker then republishes the product events of those
districts to ``outreach.feed.<subscriber>``, one topic each:

- only allow-listed event types, and of those only the allow-listed fields. A field that is
  or contains a sealed personal field (names, addresses, phone numbers, notes, ...) can
  never be allow-listed: registration refuses it, and a sealed token that still turns up
  in a value is dropped when filtering;
- the person as a pseudonym of the subscriber's own: HMAC-SHA-256 of the subject with a key
  per subscriber, and so every id (case, visit, coaching, event): two subscribers cannot
  join their data, nor link it to the product topics;
- an erasure reaches every subscriber as a tombstone for its own pseudonym of the person
  (``event_type`` ``SubjectErased``), whatever the districts: it must delete what it holds
  about them (a person may have had cases in several districts; a tombstone for a person a
  subscriber never heard of tells it nothing).

The worker is a consumer of the product topics like any other (tracked by event id): it
writes the filtered messages of every subscriber, with its tracking record, into
``feed_outbox`` in one transaction; a publisher sends them in order and deletes what the
broker acknowledged (at least once; subscribers de-duplicate by ``feed_event_id``). The
contacts service runs both (``contacts.main``); registry and outbox live in its database.
"""

# No "from __future__ import annotations": FastAPI must resolve the route signatures that
# refer to local dependencies at runtime.

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, status
from faststream.kafka import KafkaBroker
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from shared.contracts import (
    ERASURE_TOPIC,
    FEED_TOPIC_PREFIX,
    PAYLOADS,
    TOPICS,
    Envelope,
    Payload,
)
from shared.contracts.erasures import SubjectErased, SubjectErasureConfirmed
from shared.errors import ConflictError, InvalidInputError
from shared.eventsourcing.views import TrackedView
from shared.http.auth import Role
from shared.http.deps import CurrentUser
from shared.http.inputs import Key, StrictModel, Text
from shared.messaging.consumer import Consumer, view_effect
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


# --- registry and outbox ------------------------------------------------------------------


class FeedView(TrackedView):
    """The subscribers registered by the data protection officer, and the feed outbox."""

    schema = (
        """CREATE TABLE IF NOT EXISTS feed_subscribers (
            name text PRIMARY KEY,
            purpose text NOT NULL,
            allow jsonb NOT NULL,
            pseudonym_key bytea NOT NULL,
            registered_by text NOT NULL,
            registered_at timestamptz NOT NULL
        )""",
        # A registration made before registrations named districts covers none: it passes
        # nothing on until an officer registers it again for their districts.
        "ALTER TABLE feed_subscribers ADD COLUMN IF NOT EXISTS districts text[] NOT NULL "
        "DEFAULT ARRAY[]::text[]",
        """CREATE TABLE IF NOT EXISTS feed_outbox (
            id bigserial PRIMARY KEY,
            subscriber text NOT NULL,
            message_key bytea NOT NULL,
            message jsonb NOT NULL
        )""",
    )

    def register(
        self,
        *,
        name: str,
        purpose: str,
        allow: Mapping[str, Sequence[str]],
        by: str,
        districts: Collection[str],
    ) -> Subscriber:
        """Register a subscriber for ``districts``, or change its purpose, allow-list and
        districts (its key stays). Registered for districts beyond ``districts`` already:
        :class:`FeedOfOtherDistrictsError` (another district's officer's registration)."""
        check_allow_list(allow)
        allow_json = {event_type: list(fields) for event_type, fields in allow.items()}
        covered = sorted(districts)
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                b"SELECT districts FROM feed_subscribers WHERE name = %s FOR UPDATE", (name,)
            )
            existing = cursor.fetchone()
            if existing is not None and not set(existing["districts"]) <= set(covered):
                raise FeedOfOtherDistrictsError(
                    f"the subscriber {name} is registered for other districts", name=name
                )
            cursor.execute(
                b"INSERT INTO feed_subscribers (name, purpose, allow, pseudonym_key, "
                b"registered_by, registered_at, districts) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                b"ON CONFLICT (name) DO UPDATE SET purpose = EXCLUDED.purpose, "
                b"allow = EXCLUDED.allow, registered_by = EXCLUDED.registered_by, "
                b"registered_at = EXCLUDED.registered_at, districts = EXCLUDED.districts "
                b"RETURNING pseudonym_key",
                (name, purpose, Jsonb(allow_json), os.urandom(32), by, datetime.now(UTC), covered),
            )
            row = cursor.fetchone()
        assert row is not None
        return Subscriber(
            name, purpose, allow_json, bytes(row["pseudonym_key"]), frozenset(covered)
        )

    def subscribers(self) -> list[Subscriber]:
        rows = self.query("SELECT * FROM feed_subscribers ORDER BY name")
        return [
            Subscriber(
                r["name"],
                r["purpose"],
                r["allow"],
                bytes(r["pseudonym_key"]),
                frozenset(r["districts"]),
            )
            for r in rows
        ]

    def registrations(self, districts: Collection[str]) -> list[DictRow]:
        """The registrations covering any of ``districts``, and those covering none (made
        before registrations named districts: any officer may register them again)."""
        return self.query(
            "SELECT name, purpose, allow, districts, registered_by, registered_at "
            "FROM feed_subscribers WHERE districts && %s OR cardinality(districts) = 0 "
            "ORDER BY name",
            (sorted(districts),),
        )

    def pending(self, limit: int = 500) -> list[DictRow]:
        return self.query("SELECT * FROM feed_outbox ORDER BY id LIMIT %s", (limit,))

    def remove(self, ids: Sequence[int]) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(b"DELETE FROM feed_outbox WHERE id = ANY(%s)", (list(ids),))


def _fan_out(cursor: Cursor[DictRow], view: FeedView, envelope: Envelope[Payload]) -> None:
    raw = envelope.model_dump(mode="json", serialize_as_any=True)
    for subscriber in view.subscribers():
        message = feed_message(subscriber, raw)
        if message is None:
            continue
        cursor.execute(
            b"INSERT INTO feed_outbox (subscriber, message_key, message) VALUES (%s, %s, %s)",
            (subscriber.name, UUID(message["person"]).bytes, Jsonb(message)),
        )


PRODUCT_TOPICS: tuple[str, ...] = (*TOPICS.values(), ERASURE_TOPIC)


def feed_consumers(
    view: FeedView, *, prefix: str, topics: Sequence[str] = PRODUCT_TOPICS
) -> list[Consumer]:
    """One consumer per product topic (``<prefix>-feeds-<topic>``), filling the outbox (a
    batch of events in one transaction, see ``shared.messaging.consumer``)."""

    def fan_out(cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
        _fan_out(cursor, view, envelope)

    effect = view_effect(view, fan_out)
    return [
        Consumer(
            name=f"{prefix}-feeds-{topic.rsplit('.', 1)[-1]}",
            topic=topic,
            effect=effect,
            description="Pseudonymised, purpose-limited feeds of the registered subscribers.",
        )
        for topic in topics
    ]


class FeedPublisher:
    """Sends the feed outbox in order; deletes what the broker acknowledged."""

    def __init__(
        self,
        view: FeedView,
        broker: KafkaBroker,
        ensure_topics: Callable[[list[str]], object],
        interval: float = 0.5,
    ) -> None:
        self._view = view
        self._broker = broker
        self._ensure_topics = ensure_topics
        self._interval = interval
        self._topics: set[str] = set()
        self.published = 0

    async def publish_pending(self) -> int:
        rows = await asyncio.to_thread(self._view.pending)
        topics = {feed_topic(row["subscriber"]) for row in rows} - self._topics
        if topics:
            await asyncio.to_thread(self._ensure_topics, sorted(topics))
            self._topics |= topics
        for row in rows:
            await self._broker.publish(
                json.dumps(row["message"]).encode(),
                topic=feed_topic(row["subscriber"]),
                key=bytes(row["message_key"]),
                headers={"event-type": row["message"]["event_type"]},
            )
        if rows:
            await asyncio.to_thread(self._view.remove, [row["id"] for row in rows])
            self.published += len(rows)
        return len(rows)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                while await self.publish_pending():
                    pass
            except Exception:
                log.exception("feed outbox not sent yet; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._interval)


# --- the data protection officer's registry ------------------------------------------------


class RegisterSubscriber(StrictModel):
    name: Annotated[
        str,
        Text(40, form=SUBSCRIBER_NAME, form_message="must be 2 to 40 of a-z, 0-9 and -"),
        Field(examples=["youth-office-kassel"]),
    ]
    purpose: Annotated[
        str,
        Text(500, min_length=3),
        Field(
            examples=["Planning of youth-office capacity per district (§ 16k SGB II)"],
        ),
    ]
    allow: dict[Key, Annotated[list[Key], Field(max_length=100)]] = Field(
        min_length=1,
        max_length=50,
        description="Event type -> payload fields (dotted for nested ones). Sealed personal "
        "fields are refused.",
        examples=[{"ContactLost": ["reason", "evidence.missed_appointments", "deadline"]}],
    )


class Registration(BaseModel):
    name: str
    topic: str
    purpose: str
    allow: dict[str, list[str]]
    districts: list[str] = Field(description="Whose events it gets.", examples=[["kassel"]])
    registered_by: str
    registered_at: datetime


def build_feed_router(feed_view: Callable[..., FeedView]) -> APIRouter:
    """The officer's routes of the feeds; ``feed_view``: the dependency giving the service's
    :class:`FeedView`."""
    router = APIRouter(prefix="/dpo/feeds", tags=["data protection"])
    View = Annotated[FeedView, Depends(feed_view)]

    def registration(row: Mapping[str, Any]) -> Registration:
        return Registration(topic=feed_topic(row["name"]), **row)

    @router.post("", status_code=status.HTTP_201_CREATED, response_model=Registration)
    def register_subscriber(
        body: RegisterSubscriber, principal: CurrentUser, view: View
    ) -> Registration:
        """Register a subscribing team for the districts on the officer's token (or change
        its purpose, allow-list and districts). 409 ``feed_of_other_districts`` when the
        name is registered for a district the officer does not hold."""
        principal.require(Role.DATA_PROTECTION_OFFICER)
        view.register(
            name=body.name,
            purpose=body.purpose,
            allow=body.allow,
            by=principal.user,
            districts=principal.districts,
        )
        rows = [r for r in view.registrations(principal.districts) if r["name"] == body.name]
        return registration(rows[0])

    @router.get("", response_model=list[Registration])
    def subscribers(principal: CurrentUser, view: View) -> list[Registration]:
        """The subscribers of the officer's districts."""
        principal.require(Role.DATA_PROTECTION_OFFICER)
        return [registration(row) for row in view.registrations(principal.districts)]

    return router
