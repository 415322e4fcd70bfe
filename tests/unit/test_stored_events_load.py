"""Events an existing database holds load into today's aggregates, and the same commands store
events of the same shape with the same ``meta``.

``data/stored_events.json`` holds the stored records (id, version, topic, state) of a case
reported and restored by a case manager, its visit notes erased by the retention job and
again by the data protection officer, the person erased by the officer, and a notification
queued for a consumed event and sent by the outbox.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from contacts.application import Contacts, PersonDetails
from contacts.domain import CaseStatus
from eventsourcing.persistence import StoredEvent
from notifications.application import Notifications, QueueRequest
from notifications.domain import Status
from notifications.outbox import outbox_context

from shared.contracts.contacts import ContactChannel, ContactLostReason
from shared.contracts.erasures import ErasureGround
from shared.contracts.notifications import RecipientKind
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.privacy import PersonalDataCipher

pytestmark = pytest.mark.unit

STORED: list[list[Any]] = json.loads(
    (Path(__file__).parent / "data" / "stored_events.json").read_text()
)
MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
CASE_MANAGER = CommandContext(
    actor="cm-mueller", role="case_manager", correlation_id=UUID(int=1), trace={}
)
OFFICER = CommandContext(
    actor="dpo-anna", role="data_protection_officer", correlation_id=UUID(int=2), trace={}
)
RETENTION = CommandContext(
    actor="retention-job", role="system", correlation_id=UUID(int=3), trace={}
)
CONSUMED = CommandContext.following(UUID(int=10), UUID(int=11))
NOW = datetime(2026, 12, 3, 9, tzinfo=UTC)


def records(service: str) -> list[StoredEvent]:
    return [
        StoredEvent(
            originator_id=UUID(originator_id),
            originator_version=version,
            topic=topic,
            state=state.encode(),
        )
        for originator_id, version, topic, state in STORED
        if topic.startswith(f"{service}.")
    ]


def shapes(stored: list[StoredEvent], subject: UUID) -> list[tuple[str, list[str], Any]]:
    """Each stored event's topic, the names of its state and its ``meta`` (the person's
    pseudonym as ``subject``, the same in every database)."""
    found = []
    for record in stored:
        state = json.loads(record.state)
        meta = state.get("meta")
        if meta is not None and "subject" in meta:
            assert meta["subject"] == str(subject)
            meta = {**meta, "subject": "subject"}
        found.append((record.topic, sorted(state), meta))
    return found


@pytest.fixture
def contacts(cipher: PersonalDataCipher) -> Iterator[Contacts]:
    app = Contacts(env=MEMORY, cipher=cipher, today=lambda: date(2026, 11, 23))
    yield app
    app.close()


@pytest.fixture
def notifications() -> Iterator[Notifications]:
    app = Notifications(env=MEMORY, clock=lambda: NOW)
    yield app
    app.close()


def test_stored_events_load_into_todays_aggregates(
    contacts: Contacts, notifications: Notifications
) -> None:
    contacts.recorder.insert_events(records("contacts"))
    notifications.recorder.insert_events(records("notifications"))
    case_id = records("contacts")[0].originator_id

    case = contacts.get_case(case_id)
    assert case.status is CaseStatus.CONTACT_RESTORED
    assert case.restored_channel is ContactChannel.PHONE
    erasure = contacts.erasure_of(case.subject_id)
    assert erasure is not None
    assert (erasure.requested_by, erasure.district) == ("dpo-anna", "kassel")
    assert erasure.key_destroyed_at is not None
    [notes] = {r.originator_id for r in records("contacts") if "CategoryErasure" in r.topic}
    notes_erasure = contacts.get_category_erasure(notes)
    assert (notes_erasure.requested_by, notes_erasure.pending) == ("dpo-anna", False)
    [notification_id] = {r.originator_id for r in records("notifications")}
    notification = notifications.get_notification(notification_id)
    assert notification.status is Status.SENT
    assert (notification.subject_id, notification.district) == (case.subject_id, "kassel")
    assert notification.correlation_id == UUID(int=11)


def test_the_same_commands_store_events_of_the_same_shape_and_meta(
    contacts: Contacts, notifications: Notifications
) -> None:
    with acting_as(CASE_MANAGER):
        case_id = contacts.report_contact_lost(
            district="kassel",
            local_office="mitte",
            person=PersonDetails(customer_number="123D456789", name="Erika", address="Weg 1"),
            reason=ContactLostReason.MISSED_APPOINTMENTS,
            unanswered_letters=1,
            missed_appointments=2,
            last_contact_on=date(2026, 3, 2),
            deadline=None,
            case_manager="cm-mueller",
        )
        contacts.restore_contact(
            case_id, channel=ContactChannel.PHONE, restored_on=date(2026, 11, 20)
        )
    subject = contacts.get_case(case_id).subject_id
    for who in (RETENTION, OFFICER):
        with acting_as(who):
            contacts.request_category_erasure(
                subject,
                category="visit_note",
                district="kassel",
                ground=ErasureGround.RETENTION_PERIOD_ENDED,
                reason="Frist",
                destroy_key=lambda _subject, _category: None,
            )
    with acting_as(OFFICER):
        contacts.request_erasure(
            subject,
            district="kassel",
            ground=ErasureGround.REQUESTED_BY_PERSON,
            reason="Az. 1",
            destroy_key=lambda _subject: None,
        )
    request = QueueRequest(
        source_key=str(UUID(int=9)),
        source_event_type="ContactRestored",
        template="contact_restored",
        recipient_kind=RecipientKind.CASE_MANAGER,
        recipient="cm-mueller",
        context={"case_id": str(case_id)},
        subject_id=subject,
        district="kassel",
    )
    with acting_as(CONSUMED):
        notifications.queue([request])
    notification = notifications.get_notification(request.notification_id)
    with acting_as(outbox_context(notification)):
        notifications.start_attempt(notification)
        notifications.record_sent(notification)

    stored = [
        *contacts.recorder.select_notifications(start=1, limit=100),
        *notifications.recorder.select_notifications(start=1, limit=100),
    ]
    before = records("contacts") + records("notifications")
    old_subject = UUID(json.loads(before[0].state)["subject_id"]["_data_"])
    assert shapes(list(stored), subject) == shapes(before, old_subject)
