"""The visits service's typed handlers of the contacts events, run by FastStream's test broker
through the consumer every service uses (batches, de-duplication, dead letters), over the
visits application in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from visits import messaging
from visits.application import Visits
from visits.domain import Visit, VisitStatus

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import (
    CaseClosedReason,
    ContactChannel,
    ContactRestored,
    OutreachCaseClosed,
)
from shared.contracts.visits import VisitCancelledReason
from shared.messaging.consumer import DeadLetters
from shared.messaging.subscription import register
from shared.privacy import PersonalDataCipher

from .visit_support import RULES, TODAY, announce_with_app, planned_case

pytestmark = pytest.mark.unit


class KeptDeadLetters(DeadLetters):
    """The dead letters of the test: parked in the broker's ``.dlq`` topic, kept in memory
    instead of the service's table."""

    def __init__(self, broker: KafkaBroker) -> None:
        super().__init__(broker, pool=None)  # type: ignore[arg-type]
        self.kept: list[tuple[str, str | None, str]] = []

    def _record(self, consumer: Any, record: Any, event_id: str | None, error: str) -> None:
        self.kept.append((consumer.name, event_id, error))


@dataclass
class Running:
    visits: Visits
    broker: KafkaBroker
    dead_letters: KeptDeadLetters

    async def deliver(self, *messages: Envelope[Payload] | bytes) -> None:
        """Each message as the contacts relay publishes it, to the visits consumers."""
        for message in messages:
            value = (
                message
                if isinstance(message, bytes)
                else message.model_dump_json(serialize_as_any=True).encode()
            )
            await self.broker.publish(value, topic=messaging.CONTACTS, key=b"subject")

    def events(self, visit_id: UUID) -> list[Any]:
        return list(self.visits.repository.event_store.get(visit_id))


@pytest.fixture
async def running(cipher: PersonalDataCipher) -> AsyncIterator[Running]:
    visits = Visits(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        cipher=cipher,
        rules=RULES,
        today=lambda: TODAY,
    )
    broker = KafkaBroker()
    dead_letters = KeptDeadLetters(broker)
    consumer = messaging.cancellations.consumer(visits, prefix="visits-test")
    register(broker, consumer, dead_letters, retries=0, backoff_seconds=0)
    async with TestKafkaBroker(broker):
        yield Running(visits, broker, dead_letters)


def from_contacts(payload: Payload, subject: UUID | None = None) -> Envelope[Payload]:
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    envelope: Envelope[Payload] = contract(
        event_id=uuid4(),
        event_type=payload.event_type,
        schema_version=payload.schema_version,
        occurred_at=datetime.now(UTC),
        producer="contacts",
        district="kassel",
        subject=subject or uuid4(),
        correlation_id=uuid4(),
        payload=payload,
    )
    return envelope


def restored(case_id: UUID) -> Envelope[Payload]:
    return from_contacts(
        ContactRestored(
            case_id=case_id,
            channel=ContactChannel.AFTER_ANNOUNCEMENT_LETTER,
            restored_on=TODAY,
            case_manager="cm-mueller",
            recorded_by="cm-mueller",
        )
    )


def closed(case_id: UUID, reason: CaseClosedReason) -> Envelope[Payload]:
    return from_contacts(OutreachCaseClosed(case_id=case_id, reason=reason, closed_by="tl-anna"))


def cancellations(events: Sequence[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, Visit.Cancelled)]


async def test_a_person_who_got_in_touch_has_their_announced_visit_cancelled_by_the_service(
    running: Running, cipher: PersonalDataCipher
) -> None:
    case = planned_case(cipher)
    visit_id = announce_with_app(running.visits, case)
    message = restored(case.case_id)

    await running.deliver(message)

    assert running.visits.get_visit(visit_id).status is VisitStatus.CANCELLED
    [cancelled] = cancellations(running.events(visit_id))
    assert cancelled.reason == VisitCancelledReason.CONTACT_RESTORED_BEFORE_VISIT.value
    assert (cancelled.meta["actor"], cancelled.meta["role"]) == ("system", "system")
    assert cancelled.meta["causation_id"] == str(message.event_id)
    assert cancelled.meta["correlation_id"] == str(message.correlation_id)
    assert (cancelled.meta["subject"], cancelled.meta["district"]) == (
        str(case.subject_id),
        "kassel",
    )
    assert running.visits.pending_visit_id(case.case_id) is None


async def test_a_message_delivered_again_cancels_nothing_twice(
    running: Running, cipher: PersonalDataCipher
) -> None:
    case = planned_case(cipher)
    visit_id = announce_with_app(running.visits, case)
    message = restored(case.case_id)

    await running.deliver(message, message)

    assert len(cancellations(running.events(visit_id))) == 1
    assert running.dead_letters.kept == []


@pytest.mark.parametrize(
    ("reason", "cancelled_because"),
    [
        (CaseClosedReason.MOVED_AWAY, VisitCancelledReason.PERSON_MOVED),
        (CaseClosedReason.CONTACT_LASTING, VisitCancelledReason.OTHER),
    ],
)
async def test_a_closed_case_has_its_announced_visit_cancelled_saying_why(
    running: Running,
    cipher: PersonalDataCipher,
    reason: CaseClosedReason,
    cancelled_because: VisitCancelledReason,
) -> None:
    case = planned_case(cipher)
    visit_id = announce_with_app(running.visits, case)

    await running.deliver(closed(case.case_id, reason))

    [cancelled] = cancellations(running.events(visit_id))
    assert cancelled.reason == cancelled_because.value


async def test_a_case_with_no_visit_announced_is_acknowledged_and_nothing_is_recorded(
    running: Running,
) -> None:
    case_id = uuid4()

    await running.deliver(restored(case_id))

    assert running.visits.pending_visit_id(case_id) is None
    assert running.dead_letters.kept == []


async def test_a_message_that_is_not_a_contract_is_parked_and_the_next_one_applied(
    running: Running, cipher: PersonalDataCipher
) -> None:
    case = planned_case(cipher)
    visit_id = announce_with_app(running.visits, case)

    await running.deliver(b'{"event_type": "ContactRestored"}', restored(case.case_id))

    [(consumer, event_id, error)] = running.dead_letters.kept
    assert (consumer, event_id) == ("visits-test-cancellations", None)
    assert error.startswith("invalid contract")
    assert running.visits.get_visit(visit_id).status is VisitStatus.CANCELLED


def test_the_cancellations_consumer_takes_only_the_events_it_has_handlers_for() -> None:
    consumer = messaging.cancellations.consumer(Visits(), prefix="visits")

    assert consumer.name == "visits-cancellations"
    assert consumer.topic == messaging.CONTACTS
    assert consumer.event_types == {"ContactRestored", "OutreachCaseClosed"}
