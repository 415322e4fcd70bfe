"""The visits consumers against the real Kafka and PostgreSQL: contacts events fill the
planning board, and a person who got in touch after the letter has their visit cancelled —
once, however often the event is delivered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from kafka import KafkaProducer
from psycopg_pool import ConnectionPool
from visits.application import PlannedCase
from visits.domain import Schedule, Visit, VisitStatus

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import ContactLost
from shared.contracts.visits import MeetingPlace, VisitPurpose
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE
from tests.support.visits import (
    RunningConsumers,
    VisitsHarness,
    case_closed,
    contact_lost,
    contact_restored,
    visits_harness,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def harness(stack: ServiceSettings, cipher: PersonalDataCipher) -> Iterator[VisitsHarness]:
    with visits_harness(stack) as running:
        yield running


@pytest.fixture(scope="module")
def pool(stack: ServiceSettings) -> Iterator[ConnectionPool]:
    with ConnectionPool(stack.database_url(TEST_DATABASE), min_size=1, max_size=2) as pool:
        yield pool


@pytest.fixture
def producer(stack: ServiceSettings) -> Iterator[Any]:
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    yield producer
    producer.close()


def publish(producer: Any, topic: str, *envelopes: Envelope[Payload]) -> None:
    for envelope in envelopes:
        value = envelope.model_dump_json(serialize_as_any=True).encode()
        producer.send(topic, value=value, key=envelope.subject.bytes).get(timeout=10)


async def wait_for(probe: Callable[[], Any], what: str) -> Any:
    async with asyncio.timeout(30):
        while not (result := probe()):
            await asyncio.sleep(0.2)
    assert result, what
    return result


def announce(harness: VisitsHarness, row: Any) -> Any:
    today = date.today()
    with acting_as(CommandContext(actor="ow-yilmaz", role="outreach_worker")):
        return announce_as_worker(harness, row, today)


def announce_as_worker(harness: VisitsHarness, row: Any, today: date) -> Any:
    return harness.app.announce(
        case=PlannedCase(
            case_id=row["case_id"],
            subject_id=row["subject_id"],
            district=row["district"],
            name=row["name_token"],
            address=row["address_token"],
        ),
        workers=["ow-yilmaz", "ow-becker"],
        schedule=Schedule.window(today + timedelta(days=6), today + timedelta(days=8)),
        purpose=VisitPurpose.FIRST_CONTACT,
        place=MeetingPlace.HOME,
        place_description=None,
        announced_on=None,
    )


def cancellations(harness: VisitsHarness, visit_id: Any) -> list[Any]:
    events = harness.app.repository.event_store.get(visit_id)
    return [e for e in events if isinstance(e, Visit.Cancelled)]


async def test_a_lost_contact_appears_on_the_board_with_its_sealed_name_and_address(
    stack: ServiceSettings,
    pool: ConnectionPool,
    harness: VisitsHarness,
    producer: Any,
    topic: str,
    district: str,
) -> None:
    lost, who = contact_lost(harness.cipher, district, date.today() + timedelta(days=20))
    payload = lost.payload
    assert isinstance(payload, ContactLost)
    publish(producer, topic, lost, lost)  # published twice (the relay resumed after a crash)

    async with RunningConsumers(stack, pool, harness, topic) as running:
        row = await wait_for(lambda: harness.board.case(payload.case_id), "the board row")
        counts = running.dead_letters.counts()

    assert row["district"] == district
    assert row["state"] == "to_plan"
    assert row["subject_id"] == lost.subject
    assert row["name_token"] == payload.person.name
    assert row["address_token"] == payload.person.address
    assert who["name"] not in str(dict(row))
    assert who["address"] not in str(dict(row))
    assert harness.cipher.open(row["address_token"]) == who["address"]
    assert running.prefix + "-board" not in counts


async def test_a_person_who_got_in_touch_after_the_letter_has_the_visit_cancelled_once(
    stack: ServiceSettings,
    pool: ConnectionPool,
    harness: VisitsHarness,
    producer: Any,
    topic: str,
    district: str,
) -> None:
    lost, _ = contact_lost(harness.cipher, district)
    payload = lost.payload
    assert isinstance(payload, ContactLost)
    restored = contact_restored(lost)
    publish(producer, topic, lost)

    async with RunningConsumers(stack, pool, harness, topic) as running:
        row = await wait_for(lambda: harness.board.case(payload.case_id), "the board row")
        visit_id = announce(harness, row)
        await wait_for(
            lambda: (harness.board.case(payload.case_id) or {}).get("state") == "announced",
            "the announced visit on the board",
        )
        publish(producer, topic, restored, restored)  # delivered twice
        await wait_for(lambda: cancellations(harness, visit_id), "the cancellation")
        await wait_for(lambda: harness.board.case(payload.case_id) is None, "leaving the board")
        marker, _ = contact_lost(harness.cipher, district)
        publish(producer, topic, marker)  # after the duplicate, on its own partition maybe
        await wait_for(
            lambda: harness.board.case(marker.payload.case_id),  # type: ignore[attr-defined]
            "the marker",
        )
        dead = running.dead_letters.counts()

    visit = harness.app.get_visit(visit_id)
    assert visit.status is VisitStatus.CANCELLED
    (cancelled,) = cancellations(harness, visit_id)
    assert cancelled.reason == "contact_restored_before_visit"
    assert cancelled.meta["actor"] == "system"
    assert cancelled.meta["causation_id"] == str(restored.event_id)
    assert cancelled.meta["correlation_id"] == str(restored.correlation_id)
    assert harness.app.pending_visit_id(payload.case_id) is None
    assert not any(name.startswith(running.prefix) for name in dead)


async def test_a_closed_case_leaves_the_board_and_a_restored_contact_without_a_visit_too(
    stack: ServiceSettings,
    pool: ConnectionPool,
    harness: VisitsHarness,
    producer: Any,
    topic: str,
    district: str,
) -> None:
    first, _ = contact_lost(harness.cipher, district)
    second, _ = contact_lost(harness.cipher, district)
    publish(producer, topic, first, second)

    async with RunningConsumers(stack, pool, harness, topic) as running:
        await wait_for(
            lambda: (
                len(harness.board.board(district, today=date.today(), max_attempts=3)["to_plan"])
                == 2
            ),
            "two people to plan",
        )
        publish(producer, topic, case_closed(first), contact_restored(second))
        await wait_for(
            lambda: (
                not any(harness.board.board(district, today=date.today(), max_attempts=3).values())
            ),
            "an empty board",
        )
        dead = running.dead_letters.counts()

    assert not any(name.startswith(running.prefix) for name in dead)
