"""What each consumed event calls for, through its handler; the reminder before a coaching
ends — no broker."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, cast
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking
from notifications.application import Notifications, QueueRequest
from notifications.messaging import (
    cancellation_letter,
    consumers,
    contact_restored_email,
    handover_email,
)
from notifications.projections.directory import DirectoryView
from notifications.reminders import reminders_due

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import ContactRestored
from shared.contracts.visits import (
    NextStep,
    VisitCancelled,
    VisitCancelledReason,
    VisitCompleted,
    VisitOutcome,
)

from .notification_support import envelope

pytestmark = pytest.mark.unit


def test_a_restored_contact_emails_the_case_manager_named_in_the_event() -> None:
    event = envelope(
        ContactRestored(
            case_id=uuid4(),
            channel="phone",
            restored_on=date(2026, 11, 20),
            case_manager="cm-mueller",
            recorded_by="cm-mueller",
        )
    )
    (request,) = contact_restored_email(event)
    assert request.template == "contact_restored"
    assert request.recipient == "cm-mueller"
    assert request.source_key == str(event.event_id)
    assert request.subject_id == event.subject


@pytest.mark.parametrize(
    ("next_step", "expected"),
    [(NextStep.HANDOVER_TO_CASE_MANAGER, ["handover_to_case_manager"]), (NextStep.REVISIT, [])],
)
def test_only_a_handover_after_a_visit_emails_the_case_manager(
    next_step: NextStep, expected: list[str]
) -> None:
    event = envelope(
        VisitCompleted(
            visit_id=uuid4(),
            case_id=uuid4(),
            outcome=VisitOutcome.MET_AND_TALKED,
            contact_made=True,
            completed_on=date(2026, 12, 2),
            attempt_number=1,
            coaching_referral_consent=False,
            next_step=next_step,
            recorded_by="ow-yilmaz",
        )
    )
    assert [r.template for r in handover_email(event)] == expected


def test_no_cancellation_letter_goes_to_the_old_address_of_someone_who_moved() -> None:
    def cancelled(reason: VisitCancelledReason) -> Envelope[VisitCancelled]:
        return envelope(
            VisitCancelled(
                visit_id=uuid4(),
                case_id=uuid4(),
                reason=reason,
                cancelled_on=date(2026, 11, 25),
                cancelled_by="system",
            )
        )

    assert cancellation_letter(cancelled(VisitCancelledReason.PERSON_MOVED)) == []
    assert [r.template for r in cancellation_letter(cancelled(VisitCancelledReason.OTHER))] == [
        "visit_cancelled"
    ]


class QueueRecorder:
    """Stands in for the application: records what the handlers queue."""

    def __init__(self) -> None:
        self.queued: list[QueueRequest] = []

    def queue(self, requests: list[QueueRequest], tracking: Tracking | None = None) -> bool:
        self.queued.extend(requests)
        return bool(requests)


def test_each_notifying_event_reaches_its_handler_in_the_consumer_groups_it_always_had() -> None:
    """The consumer groups' names are their Kafka offsets and the prefix of their tracking
    records: they and the events they take stay as they are."""
    app = QueueRecorder()
    found = {
        consumer.name: consumer
        for consumer in consumers(
            cast(Notifications, app), cast(DirectoryView, None), prefix="notifications"
        )
    }

    assert {name: set(c.event_types or ()) for name, c in found.items()} == {
        "notifications-directory-contacts": {"ContactLost", "ContactDetailsUpdated"},
        "notifications-contacts": {"ContactRestored"},
        "notifications-directory-visits": {"VisitAnnounced", "VisitRescheduled"},
        "notifications-visits": {
            "VisitAnnounced",
            "VisitRescheduled",
            "VisitCancelled",
            "VisitCompleted",
        },
        "notifications-directory-coaching": {"CoachAssigned", "CoachingExtended", "CoachingEnded"},
        "notifications-coaching": {"CoachAssigned"},
    }
    restored = envelope(
        ContactRestored(
            case_id=uuid4(),
            channel="phone",
            restored_on=date(2026, 11, 20),
            case_manager="cm-mueller",
            recorded_by="cm-mueller",
        )
    )
    tracking = Tracking(
        application_name=f"notifications-contacts/{restored.event_id}", notification_id=1
    )
    message = cast(Envelope[Payload], restored)  # as the consumer has it, before its handler
    assert found["notifications-contacts"].effect(message, tracking)
    assert [(r.template, r.recipient) for r in app.queued] == [("contact_restored", "cm-mueller")]


def test_a_coaching_ending_within_the_lead_reminds_once_per_end_date() -> None:
    coaching: dict[str, Any] = {
        "coaching_id": uuid4(),
        "case_id": uuid4(),
        "subject_id": uuid4(),
        "district": "kassel",
        "provider_name": "Träger",
        "coach": "pc-weber",
        "ends_on": date(2026, 12, 1),
        "ended": False,
    }
    today = date(2026, 11, 23)
    (first,) = reminders_due([coaching], today=today, lead_days=14)
    (again,) = reminders_due([coaching], today=today + timedelta(days=1), lead_days=14)
    assert first.notification_id == again.notification_id  # the same reminder
    extended = {**coaching, "ends_on": date(2026, 12, 5)}
    (after_extension,) = reminders_due([extended], today=today, lead_days=14)
    assert after_extension.notification_id != first.notification_id
    assert reminders_due([coaching], today=date(2026, 11, 1), lead_days=14) == []
    assert reminders_due([{**coaching, "ended": True}], today=today, lead_days=14) == []
