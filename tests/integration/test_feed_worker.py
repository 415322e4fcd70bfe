"""The feed worker against the real Kafka and PostgreSQL: a product event in, the filtered
message on the subscriber's own topic out; after an erasure, the tombstone."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from contacts.feeds import FeedPublisher, FeedView, feed_consumers, feed_topic
from psycopg_pool import ConnectionPool

from shared.contracts import Envelope
from shared.contracts.contacts import ContactRestored
from shared.contracts.erasures import ErasureGround, SubjectErased
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.views import build_view
from shared.messaging.consumer import DeadLetters
from shared.messaging.kafka import build_broker, ensure_topics
from shared.messaging.subscription import register
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE
from tests.support.processes import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
def view(stack: ServiceSettings) -> FeedView:
    feeds = build_view(FeedView, eventsourcing_env(stack, TEST_DATABASE), "feeds_test")
    with feeds.datastore.transaction(commit=True) as cursor:  # subscribers of earlier runs
        cursor.execute(b"DELETE FROM feed_subscribers")
        cursor.execute(b"DELETE FROM feed_outbox")
    return feeds


@pytest.fixture
def pool(stack: ServiceSettings) -> Iterator[ConnectionPool]:
    with ConnectionPool(stack.database_url(TEST_DATABASE), min_size=1, max_size=2) as pool:
        yield pool


def envelope(subject: uuid.UUID, payload: Any, event_type: str) -> dict[str, Any]:
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    return dict(
        contract(
            event_id=uuid.uuid4(),
            event_type=event_type,
            schema_version=1,
            occurred_at=datetime.now(UTC),
            producer="contacts",
            district="kassel",
            subject=subject,
            correlation_id=uuid.uuid4(),
            payload=payload,
        ).model_dump(mode="json")
    )


async def test_the_worker_republishes_filtered_events_and_the_tombstone_per_subscriber_once(
    stack: ServiceSettings, view: FeedView, pool: ConnectionPool, topic: str
) -> None:
    name = f"test-{uuid.uuid4().hex[:10]}"
    subscriber = view.register(
        name=name,
        purpose="integration test",
        allow={"ContactRestored": ["channel", "restored_on"]},
        by="dpo-test",
        districts={"kassel"},
    )
    broker = build_broker(stack, "feed-test")
    dead_letters = DeadLetters(broker, pool)
    dead_letters.create_schema()
    for consumer in feed_consumers(view, prefix=f"feed-test-{name}", topics=[topic]):
        register(broker, consumer, dead_letters)
    # Two replicas' publishers over the same outbox: one sends, the other waits in standby.
    publishers = [
        FeedPublisher(
            view,
            broker,
            lambda topics: ensure_topics(stack, topics),
            lock_dsn=stack.database_url(TEST_DATABASE),
            interval=0.05,
        )
        for _ in range(2)
    ]
    stopping = asyncio.Event()
    running: list[asyncio.Task[None]] = []
    subject = uuid.uuid4()
    restored = envelope(
        subject,
        ContactRestored(
            case_id=uuid.uuid4(),
            channel="phone",
            restored_on="2026-11-20",
            case_manager="cm-test",
            recorded_by="cm-test",
        ),
        "ContactRestored",
    )
    erased = envelope(
        subject,
        SubjectErased(
            erasure_id=uuid.uuid4(),
            ground=ErasureGround.REQUESTED_BY_PERSON,
            requested_by="dpo-test",
            key_destroyed_at=datetime.now(UTC),
        ),
        "SubjectErased",
    )
    await broker.start()
    try:
        running += [asyncio.create_task(p.run(stopping)) for p in publishers]
        for message in (restored, erased):
            await broker.publish(json.dumps(message).encode(), topic=topic, key=subject.bytes)
        async with asyncio.timeout(30):
            while sum(p.published for p in publishers) < 2:
                await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # time for a second sender, if there were one
    finally:
        stopping.set()
        await asyncio.gather(*running, return_exceptions=True)
        await broker.stop()

    assert sorted(p.published for p in publishers) == [0, 2]

    received = [json.loads(record.value) for record in read_topic(stack, feed_topic(name))]
    assert [m["event_type"] for m in received] == ["ContactRestored", "SubjectErased"]
    first, tombstone = received
    assert first["data"] == {"channel": "phone", "restored_on": "2026-11-20"}
    assert first["person"] == str(subscriber.pseudonym(subject))
    assert first["person"] != str(subject)
    assert tombstone["person"] == first["person"]
    assert tombstone["data"] == {}
    assert view.pending() == []
