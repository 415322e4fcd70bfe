"""The relay against the real PostgreSQL and Kafka.

The contacts application here uses the test database, so these relays never compete for
the advisory lock with a contacts service that may be running (locks are per database).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from contacts.application import Contacts, PersonDetails
from contacts.integration import to_integration_event
from eventsourcing import persistence
from eventsourcing.persistence import Tracking
from kafka import KafkaConsumer, TopicPartition

from shared.contracts import contacts as contacts_contracts
from shared.contracts import parse_envelope, topic_of
from shared.contracts.contacts import ContactLostReason
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.eventsourcing.persistence import eventsourcing_env
from shared.messaging.kafka import build_broker
from shared.messaging.relay import Relay
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE, person

pytestmark = pytest.mark.integration


@pytest.fixture
def contacts(stack: ServiceSettings, cipher: PersonalDataCipher) -> Iterator[Contacts]:
    app = Contacts(eventsourcing_env(stack, TEST_DATABASE), cipher=cipher)
    yield app
    app.close()


def report(app: Contacts, district: str) -> uuid.UUID:
    data = person()
    with acting_as(CommandContext(actor="cm-test", role="case_manager")):
        return app.report_contact_lost(
            district=district,
            local_office="mitte",
            person=PersonDetails(
                customer_number=data["customer_number"], name=data["name"], address=data["address"]
            ),
            reason=ContactLostReason.MISSED_APPOINTMENTS,
            unanswered_letters=1,
            missed_appointments=2,
            last_contact_on=date(2026, 1, 5),
            deadline=None,
            case_manager="cm-test",
        )


def messages_of(settings: ServiceSettings, district: str) -> list[Any]:
    """Every message on the contacts topic that belongs to ``district`` (read from the start)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    topic = topic_of("contacts")
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    found = [record for record in consumer if _district_of(record.value) == district]
    consumer.close()
    return found


def _district_of(value: bytes) -> str | None:
    """The district of a message; ``None`` for a poison message (the e2e tests publish some)."""
    try:
        message = json.loads(value)
    except ValueError:
        return None
    return message.get("district") if isinstance(message, dict) else None


def new_relay(app: Contacts, settings: ServiceSettings, **options: Any) -> tuple[Relay, Any]:
    broker = build_broker(settings, f"relay-test-{uuid.uuid4().hex[:6]}")
    relay = Relay(
        app=app,
        broker=broker,
        topic=topic_of("contacts"),
        mapper=to_integration_event,
        contracts=contacts_contracts.EVENTS,
        lock_dsn=settings.database_url(TEST_DATABASE),
        **options,
    )
    return relay, broker


async def run_until(relay: Relay, broker: Any, position: int) -> None:
    stopping = asyncio.Event()
    await broker.start()
    task = asyncio.create_task(relay.run(stopping))
    try:
        async with asyncio.timeout(30):
            while relay.position < position:
                await asyncio.sleep(0.1)
    finally:
        stopping.set()
        await task
        await broker.stop()


async def test_relay_publishes_stored_events_keyed_by_subject_and_records_its_position(
    contacts: Contacts, stack: ServiceSettings, district: str
) -> None:
    case_ids = [report(contacts, district) for _ in range(3)]
    head = contacts.recorder.max_notification_id() or 0
    relay, broker = new_relay(contacts, stack)

    await run_until(relay, broker, head)

    assert relay.position >= head
    records = messages_of(stack, district)
    envelopes = [parse_envelope(r.value) for r in records]
    assert sorted(e.payload.case_id for e in envelopes) == sorted(case_ids)  # type: ignore[attr-defined]
    for record, envelope in zip(records, envelopes, strict=True):
        assert record.key == envelope.subject.bytes
        assert envelope.event_type == "ContactLost"
        assert dict(record.headers)["event-type"] == b"ContactLost"


async def test_a_restarted_relay_resumes_after_its_recorded_position_and_loses_nothing(
    contacts: Contacts, stack: ServiceSettings, district: str
) -> None:
    report(contacts, district)
    first, broker = new_relay(contacts, stack)
    await run_until(first, broker, contacts.recorder.max_notification_id() or 0)

    later = [report(contacts, district) for _ in range(2)]  # written while no relay runs
    second, broker = new_relay(contacts, stack)
    await run_until(second, broker, contacts.recorder.max_notification_id() or 0)

    envelopes = [parse_envelope(r.value) for r in messages_of(stack, district)]
    case_ids = [e.payload.case_id for e in envelopes]  # type: ignore[attr-defined]
    assert len(case_ids) == 3, "each event published once: the restart resumed, not replayed"
    assert set(later) <= set(case_ids)


async def test_only_one_relay_per_service_publishes_at_a_time(
    contacts: Contacts, stack: ServiceSettings
) -> None:
    first, first_broker = new_relay(contacts, stack)
    second, second_broker = new_relay(contacts, stack)
    stopping = asyncio.Event()
    await first_broker.start()
    await second_broker.start()
    tasks = [asyncio.create_task(r.run(stopping)) for r in (first, second)]
    try:
        for _ in range(100):
            if first.is_active or second.is_active:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        assert [first.is_active, second.is_active].count(True) == 1
    finally:
        stopping.set()
        await asyncio.gather(*tasks)
        await first_broker.stop()
        await second_broker.stop()


async def test_a_position_the_database_could_not_record_is_not_published_again(
    contacts: Contacts,
    stack: ServiceSettings,
    district: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database went away after the broker acknowledged a batch (its position was not
    recorded); the relay goes on after what the broker holds, not before it."""
    case_ids = [report(contacts, district) for _ in range(3)]
    record_position = contacts.recorder.insert_tracking
    refusals = 2

    def database_away_at_first(tracking: Tracking) -> None:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise persistence.OperationalError("server closed the connection unexpectedly")
        record_position(tracking)

    monkeypatch.setattr(contacts.recorder, "insert_tracking", database_away_at_first)
    relay, broker = new_relay(contacts, stack, retry_seconds=0.1)

    await run_until(relay, broker, contacts.recorder.max_notification_id() or 0)

    assert refusals == 0
    envelopes = [parse_envelope(r.value) for r in messages_of(stack, district)]
    published = [e.payload.case_id for e in envelopes]  # type: ignore[attr-defined]
    assert sorted(published) == sorted(case_ids), "each event once, none again"
