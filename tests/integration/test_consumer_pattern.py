"""The shared consumer pattern against the real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from eventsourcing import persistence
from eventsourcing.persistence import Tracking
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from psycopg import Cursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import ContactRestored
from shared.errors import InvalidInputError
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.views import TrackedView, build_view
from shared.messaging import processed
from shared.messaging.consumer import Consumer, DeadLetters, view_effect
from shared.messaging.kafka import build_broker
from shared.messaging.subscription import register
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE

pytestmark = pytest.mark.integration


class AppliedView(TrackedView):
    schema = (
        """CREATE TABLE IF NOT EXISTS consumer_test_applied (
            consumer text NOT NULL,
            event_id uuid NOT NULL,
            applied_count int NOT NULL,
            PRIMARY KEY (consumer, event_id)
        )""",
    )

    def applied(self, consumer: str) -> dict[uuid.UUID, int]:
        rows = self.query(
            "SELECT event_id, applied_count FROM consumer_test_applied WHERE consumer = %s",
            (consumer,),
        )
        return {row["event_id"]: row["applied_count"] for row in rows}


def envelope(district: str, subject: uuid.UUID | None = None) -> Envelope[ContactRestored]:
    return Envelope[ContactRestored](
        event_id=uuid.uuid4(),
        event_type="ContactRestored",
        schema_version=1,
        occurred_at=datetime.now(UTC),
        producer="contacts",
        district=district,
        subject=subject or uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        payload=ContactRestored(
            case_id=uuid.uuid4(),
            channel="phone",
            restored_on="2026-11-20",
            case_manager="cm-test",
            recorded_by="cm-test",
        ),
    )


@pytest.fixture(scope="module")
def view(stack: ServiceSettings) -> AppliedView:
    return build_view(AppliedView, eventsourcing_env(stack, TEST_DATABASE), "consumer_test")


@pytest.fixture(scope="module")
def pool(stack: ServiceSettings) -> Any:
    with ConnectionPool(stack.database_url(TEST_DATABASE), min_size=1, max_size=2) as pool:
        yield pool


@pytest.fixture
def producer(stack: ServiceSettings) -> Any:
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    yield producer
    producer.close()


def send(
    producer: Any,
    topic: str,
    value: bytes,
    key: bytes = b"same-partition",
    headers: list[tuple[str, bytes]] | None = None,
) -> Any:
    return producer.send(topic, value=value, key=key, headers=headers or []).get(timeout=10)


def as_bytes(env: Envelope[Any]) -> bytes:
    return env.model_dump_json().encode()


def counting(view: AppliedView, group: str) -> Callable[[Cursor[DictRow], Envelope[Payload]], None]:
    def apply(cursor: Cursor[DictRow], env: Envelope[Payload]) -> None:
        cursor.execute(
            b"INSERT INTO consumer_test_applied VALUES (%s, %s, 1) ON CONFLICT (consumer, event_id)"
            b" DO UPDATE SET applied_count = consumer_test_applied.applied_count + 1",
            (group, env.event_id),
        )

    return apply


class Running:
    """A consumer registered on its own broker, started and stopped by the test."""

    def __init__(
        self,
        settings: ServiceSettings,
        pool: Any,
        consumer: Consumer,
        stall_seconds: float = 60.0,
    ) -> None:
        self.broker = build_broker(settings, f"consumer-test-{uuid.uuid4().hex[:6]}")
        self.dead_letters = DeadLetters(self.broker, pool)
        self.dead_letters.create_schema()
        self.progress = register(
            self.broker,
            consumer,
            self.dead_letters,
            retries=1,
            backoff_seconds=0.05,
            stall_seconds=stall_seconds,
        )

    async def __aenter__(self) -> Running:
        await self.broker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.broker.stop()


@pytest.fixture
def group() -> str:
    return f"consumer-test-{uuid.uuid4().hex[:8]}"


async def wait_for(probe: Callable[[], Any], what: str) -> Any:
    import asyncio

    async with asyncio.timeout(30):
        while not (result := probe()):
            await asyncio.sleep(0.2)
    assert result, what
    return result


async def test_a_redelivered_event_is_applied_once(
    stack: ServiceSettings, pool: Any, view: AppliedView, producer: Any, topic: str, group: str
) -> None:
    event = envelope("test-district")
    consumer = Consumer(name=group, topic=topic, effect=view_effect(view, counting(view, group)))
    send(producer, topic, as_bytes(event))
    send(producer, topic, as_bytes(event))  # the relay published it again after a crash
    marker = envelope("test-district")
    send(producer, topic, as_bytes(marker))

    async with Running(stack, pool, consumer):
        applied = await wait_for(
            lambda: marker.event_id in view.applied(group) and view.applied(group), "marker"
        )

    assert applied == {event.event_id: 1, marker.event_id: 1}


async def test_a_consumed_message_is_recorded_in_processed_messages_and_not_as_tracking(
    stack: ServiceSettings, pool: Any, view: AppliedView, producer: Any, topic: str, group: str
) -> None:
    event = envelope("test-district")
    consumer = Consumer(name=group, topic=topic, effect=view_effect(view, counting(view, group)))
    first = send(producer, topic, as_bytes(event))
    send(producer, topic, as_bytes(event))  # delivered again: applied and recorded once

    async with Running(stack, pool, consumer):
        await wait_for(lambda: event.event_id in view.applied(group), "the event")

    rows = view.query(
        'SELECT message_id, topic, partition, "offset" FROM processed_messages WHERE consumer = %s',
        (group,),
    )
    assert rows == [
        {
            "message_id": str(event.event_id),
            "topic": topic,
            "partition": first.partition,
            "offset": first.offset,
        }
    ]
    assert view.max_tracking_id(f"{group}/{event.event_id}") is None


async def test_messages_applied_before_processed_messages_existed_are_not_applied_again(
    stack: ServiceSettings,
) -> None:
    """A database of a service from before ``processed_messages``: the messages its
    consumers recorded in the tracking tables are taken over once, when the table is made."""
    applied_before, position = uuid.uuid4(), "Visits"
    schema = f"upgrade_{uuid.uuid4().hex[:8]}"
    url = stack.database_url(TEST_DATABASE)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        try:
            conn.execute(
                "CREATE TABLE old_view_tracking "
                "(application_name text PRIMARY KEY, notification_id bigint)"
            )
            conn.execute(
                "INSERT INTO old_view_tracking VALUES (%s, 1), (%s, 42)",
                (f"visits-cancellations/{applied_before}", position),
            )
            processed.create_schema(conn.cursor())
            conn.execute("DELETE FROM old_view_tracking")
            processed.create_schema(conn.cursor())  # taken over once only

            taken = processed.applied(
                conn.cursor(),
                [
                    processed.delivery("visits-cancellations", applied_before),
                    processed.delivery("visits-cancellations", uuid.uuid4()),
                ],
            )
            rows = conn.execute("SELECT consumer, message_id FROM processed_messages").fetchall()
        finally:
            conn.rollback()
    assert taken == {("visits-cancellations", str(applied_before))}
    assert rows == [{"consumer": "visits-cancellations", "message_id": str(applied_before)}]


async def test_a_poison_message_is_parked_in_the_dead_letter_topic_and_the_partition_keeps_flowing(
    stack: ServiceSettings, pool: Any, view: AppliedView, producer: Any, topic: str, group: str
) -> None:
    consumer = Consumer(name=group, topic=topic, effect=view_effect(view, counting(view, group)))
    send(producer, topic, b"\x00not json at all")
    send(producer, topic, json.dumps({"event_type": "SomethingUnknown"}).encode())
    after = envelope("test-district")
    send(producer, topic, as_bytes(after))

    async with Running(stack, pool, consumer) as running:
        await wait_for(lambda: after.event_id in view.applied(group), "event after the poison")
        counts = running.dead_letters.counts()

    assert counts[group] == 2
    parked = read_all(stack, topic + ".dlq")
    mine = [r for r in parked if dict(r.headers).get("consumer") == group.encode()]
    assert {r.value for r in mine} == {
        b"\x00not json at all",
        json.dumps({"event_type": "SomethingUnknown"}).encode(),
    }
    assert all(b"invalid contract" in dict(r.headers)["error"] for r in mine)


async def test_an_event_the_domain_rejects_is_parked_with_its_error(
    stack: ServiceSettings, pool: Any, producer: Any, topic: str, group: str
) -> None:
    def reject(env: Envelope[Payload], tracking: Tracking) -> bool:
        raise InvalidInputError("no such case here")

    rejected = envelope("test-district")
    send(producer, topic, as_bytes(rejected))
    async with Running(stack, pool, Consumer(name=group, topic=topic, effect=reject)) as running:
        await wait_for(lambda: running.dead_letters.counts().get(group), "dead letter")

    parked = [
        r for r in read_all(stack, topic + ".dlq") if dict(r.headers)["consumer"] == group.encode()
    ]
    assert len(parked) == 1
    assert dict(parked[0].headers)["error"] == b"invalid_input: no such case here"


async def test_a_message_is_acknowledged_only_after_it_was_processed(
    stack: ServiceSettings, pool: Any, view: AppliedView, producer: Any, topic: str, group: str
) -> None:
    """While the database is away nothing is parked or lost: the message comes again."""
    attempts: list[uuid.UUID] = []
    apply = view_effect(view, counting(view, group))

    def flaky(env: Envelope[Payload], tracking: Tracking) -> bool:
        attempts.append(env.event_id)
        if len(attempts) == 1:
            raise psycopg.OperationalError("connection refused")
        return apply(env, tracking)

    event = envelope("test-district")
    send(producer, topic, as_bytes(event))
    async with Running(stack, pool, Consumer(name=group, topic=topic, effect=flaky)) as running:
        await wait_for(lambda: event.event_id in view.applied(group), "redelivered event")
        assert running.dead_letters.counts().get(group) is None

    assert attempts == [event.event_id, event.event_id]
    assert view.applied(group) == {event.event_id: 1}


async def test_a_restarted_consumer_continues_where_it_committed_and_applies_nothing_twice(
    stack: ServiceSettings, pool: Any, view: AppliedView, producer: Any, topic: str, group: str
) -> None:
    consumer = Consumer(name=group, topic=topic, effect=view_effect(view, counting(view, group)))
    first = [envelope("test-district") for _ in range(20)]
    for event in first:
        send(producer, topic, as_bytes(event), key=event.subject.bytes)
    async with Running(stack, pool, consumer):
        await wait_for(lambda: len(view.applied(group)) >= 5, "some events")

    second = [envelope("test-district") for _ in range(20)]
    for event in second:
        send(producer, topic, as_bytes(event), key=event.subject.bytes)
    async with Running(stack, pool, consumer):
        await wait_for(lambda: len(view.applied(group)) == 40, "every event")

    applied = view.applied(group)
    assert set(applied) == {e.event_id for e in first + second}
    assert set(applied.values()) == {1}


def read_all(settings: ServiceSettings, topic: str) -> list[Any]:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
    )
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    records = list(consumer)
    consumer.close()
    return records


async def test_in_a_batch_only_the_event_the_domain_rejects_is_parked_and_the_others_are_applied(
    stack: ServiceSettings, pool: Any, view: AppliedView, producer: Any, topic: str, group: str
) -> None:
    count = counting(view, group)

    def apply(cursor: Cursor[DictRow], env: Envelope[Payload]) -> None:
        if env.district == "rejecting-district":
            raise InvalidInputError("no such case here")
        count(cursor, env)

    before = [envelope("test-district") for _ in range(5)]
    rejected = envelope("rejecting-district")
    after = [envelope("test-district") for _ in range(5)]
    for event in [*before, rejected, *after]:  # one partition: delivered as one batch
        send(producer, topic, as_bytes(event))
    consumer = Consumer(name=group, topic=topic, effect=view_effect(view, apply))

    async with Running(stack, pool, consumer) as running:
        await wait_for(lambda: len(view.applied(group)) == 10, "every other event")
        await wait_for(lambda: running.dead_letters.counts().get(group), "dead letter")
        counts = running.dead_letters.counts()

    assert view.applied(group) == {e.event_id: 1 for e in [*before, *after]}
    assert counts[group] == 1
    parked = [
        r for r in read_all(stack, topic + ".dlq") if dict(r.headers)["consumer"] == group.encode()
    ]
    assert [r.value for r in parked] == [as_bytes(rejected)]


async def test_a_batch_with_events_applied_before_applies_only_the_new_ones(
    stack: ServiceSettings, pool: Any, view: AppliedView, producer: Any, topic: str, group: str
) -> None:
    """The relay published a stretch again after a crash: the repeated events, in the same
    batch as new ones, are skipped by their tracking records."""
    consumer = Consumer(name=group, topic=topic, effect=view_effect(view, counting(view, group)))
    seen = [envelope("test-district") for _ in range(3)]
    for event in seen:
        send(producer, topic, as_bytes(event))
    async with Running(stack, pool, consumer):
        await wait_for(lambda: len(view.applied(group)) == 3, "the first events")

    new = [envelope("test-district") for _ in range(3)]
    for event in [*seen, *new, *new]:
        send(producer, topic, as_bytes(event))
    async with Running(stack, pool, consumer):
        await wait_for(lambda: len(view.applied(group)) == 6, "the new events")

    assert view.applied(group) == {e.event_id: 1 for e in [*seen, *new]}


async def test_while_the_database_is_away_behind_the_library_nothing_is_parked(
    stack: ServiceSettings, pool: Any, view: AppliedView, producer: Any, topic: str, group: str
) -> None:
    """The library turns psycopg's connection errors into its own ``OperationalError``:
    that is the database being away too, so the batch comes again instead of being parked."""
    attempts: list[uuid.UUID] = []
    apply = counting(view, group)

    def flaky(cursor: Cursor[DictRow], env: Envelope[Payload]) -> None:
        attempts.append(env.event_id)
        if len(attempts) <= 3:
            raise persistence.OperationalError("the connection was closed")
        apply(cursor, env)

    events = [envelope("test-district") for _ in range(2)]
    for event in events:
        send(producer, topic, as_bytes(event))
    consumer = Consumer(name=group, topic=topic, effect=view_effect(view, flaky))
    async with Running(stack, pool, consumer) as running:
        await wait_for(lambda: len(view.applied(group)) == 2, "redelivered events")
        assert running.dead_letters.counts().get(group) is None

    assert view.applied(group) == {e.event_id: 1 for e in events}


async def test_whatever_a_message_holds_only_it_is_parked_and_every_valid_event_arrives_once(
    stack: ServiceSettings, pool: Any, view: AppliedView, producer: Any, topic: str, group: str
) -> None:
    count = counting(view, group)

    def apply(cursor: Cursor[DictRow], env: Envelope[Payload]) -> None:
        if env.district == "raising-district":
            raise KeyError("an exception of no expected class")
        count(cursor, env)

    wrong_type = json.loads(as_bytes(envelope("test-district")))
    wrong_type["payload"]["case_id"] = {"nested": [1, 2, 3]}
    too_large = json.loads(as_bytes(envelope("test-district")))
    too_large["payload"]["recorded_by"] = "x" * 300_000
    poison: dict[str, tuple[bytes, list[tuple[str, bytes]]]] = {
        "unreadable headers: not UTF-8: traceparent": (
            as_bytes(envelope("test-district")),
            [("traceparent", b"\xff\xfe\xfd")],
        ),
        "invalid contract: expected value": (b"\xff\xfe\xfd not UTF-8", []),
        "invalid contract: recursion limit exceeded": (b"[" * 200_000, []),
        "invalid contract: the message has": (json.dumps(too_large).encode(), []),
        "invalid contract: payload.case_id: uuid_type": (json.dumps(wrong_type).encode(), []),
        "invalid contract: unknown event type: None": (b"42", []),
        "KeyError: KeyError raised at tests/": (
            as_bytes(envelope("raising-district")),
            [],
        ),
    }
    valid = [envelope("test-district") for _ in range(40)]
    sources: dict[str, str] = {}
    keys = [uuid.uuid4().bytes for _ in range(6)]  # spread over the topic's partitions
    for index, event in enumerate(valid):
        send(producer, topic, as_bytes(event), key=keys[index % len(keys)])
        if index % 5 == 2 and poison.keys() - sources.keys():
            reason = sorted(poison.keys() - sources.keys())[0]
            value, headers = poison[reason]
            sent = send(producer, topic, value, key=keys[index % len(keys)], headers=headers)
            sources[reason] = f"{topic}/{sent.partition}/{sent.offset}"
    assert sources.keys() == poison.keys()

    consumer = Consumer(name=group, topic=topic, effect=view_effect(view, apply))
    async with Running(stack, pool, consumer) as running:
        await wait_for(lambda: len(view.applied(group)) == len(valid), "every valid event")
        await wait_for(
            lambda: running.dead_letters.counts().get(group) == len(poison), "every bad one"
        )
        status = await running.progress.status()

    assert view.applied(group) == {e.event_id: 1 for e in valid}
    assert status["parked"] == len(poison)
    assert status["processed"] >= len(valid) + len(poison)
    parked = {
        dict(r.headers)["source"].decode(): dict(r.headers)["error"].decode()
        for r in read_all(stack, topic + ".dlq")
        if dict(r.headers).get("consumer") == group.encode()
    }
    assert set(parked) == set(sources.values())
    for reason, source in sources.items():
        assert parked[source].startswith(reason), (reason, parked[source])
    assert not any("xxxx" in error for error in parked.values())  # no value of a message


async def test_a_consumer_that_makes_no_progress_while_messages_wait_shows_as_stalled(
    stack: ServiceSettings, pool: Any, producer: Any, topic: str, group: str
) -> None:
    def away(env: Envelope[Payload], tracking: Tracking) -> bool:
        raise psycopg.OperationalError("connection refused")

    send(producer, topic, as_bytes(envelope("test-district")))
    consumer = Consumer(name=group, topic=topic, effect=away)
    async with Running(stack, pool, consumer, stall_seconds=1.0) as running:

        async def stalled() -> dict[str, Any]:
            return await running.progress.status()

        async with asyncio.timeout(30):
            while not (status := await stalled())["stalled"]:
                await asyncio.sleep(0.2)
    assert status["lag"] >= 1
    assert status["processed"] == 0
    assert status["parked"] == 0
    assert status["last_progress_at"] is None
