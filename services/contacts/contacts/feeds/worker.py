"""The feeds' registry and outbox, the consumers that fill the outbox and the publisher
that sends it (at least once; subscribers de-duplicate by ``feed_event_id``)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

from faststream.kafka import KafkaBroker
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from contacts.feeds.filtering import (
    FeedOfOtherDistrictsError,
    Subscriber,
    check_allow_list,
    feed_message,
    feed_topic,
)
from shared.contracts import ERASURE_TOPIC, TOPICS, Envelope, Payload
from shared.eventsourcing.views import TrackedView
from shared.messaging.consumer import Consumer, view_effect
from shared.runtime.background import as_leader, every

log = logging.getLogger(__name__)


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
    """Sends the feed outbox in order; deletes what the broker acknowledged. One replica
    sends at a time (the leader lock of ``lock_dsn``'s database): two senders would send a
    row twice and could reorder a subscriber's messages."""

    def __init__(
        self,
        view: FeedView,
        broker: KafkaBroker,
        ensure_topics: Callable[[list[str]], object],
        *,
        lock_dsn: str,
        interval: float = 0.5,
    ) -> None:
        self._view = view
        self._lock_dsn = lock_dsn
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
        """Send until ``stopping`` is set; standby while another replica holds the lock."""
        sending = every(self._interval, self._publish_all, name="feed outbox")
        await as_leader(self._lock_dsn, "outreach-feeds", sending, name="feed outbox")(stopping)

    async def _publish_all(self) -> None:
        while await self.publish_pending():
            pass
