"""The case's timeline shows every step a case manager needs: the visits announced,
rescheduled, cancelled (also automatically) and made, and the letters to the person (queued,
in the print batch, held and why) — noted in the case's own log from the visits' and
notifications' events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from contacts.application import Contacts
from contacts.messaging import CaseLetters, letters, visit_made, visit_steps
from eventsourcing.persistence import Tracking

from shared.contracts import Envelope, Payload
from shared.contracts.notifications import (
    NotificationChannel,
    NotificationFailed,
    NotificationQueued,
    NotificationSent,
    RecipientKind,
)
from shared.contracts.visits import (
    MeetingPlace,
    NextStep,
    Schedule,
    VisitAnnounced,
    VisitCancelled,
    VisitCancelledReason,
    VisitCompleted,
    VisitOutcome,
    VisitPurpose,
)
from shared.privacy import PersonalDataCipher

from .support import TODAY, as_consumed
from .test_contacts_application import report

pytestmark = pytest.mark.unit


@pytest.fixture
def app(cipher: PersonalDataCipher) -> Contacts:
    return Contacts(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, cipher=cipher, today=lambda: TODAY
    )


def envelope(payload: Payload, subject: UUID, district: str = "kassel") -> Envelope[Payload]:
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    built: Envelope[Payload] = contract(
        event_id=uuid4(),
        event_type=payload.event_type,
        schema_version=1,
        occurred_at=datetime.now(UTC),
        producer="test",
        district=district,
        subject=subject,
        correlation_id=uuid4(),
        payload=payload,
    )
    return built


def completed(case_id: UUID, outcome: VisitOutcome) -> VisitCompleted:
    return VisitCompleted(
        visit_id=UUID(int=7),
        case_id=case_id,
        outcome=outcome,
        contact_made=outcome.contact_made,
        completed_on=date(2026, 12, 2),
        attempt_number=1,
        coaching_referral_consent=False,
        next_step=NextStep.REVISIT,
        recorded_by="ow-yilmaz",
    )


def test_a_visit_that_did_not_reach_the_person_does_not_tell_refusal_from_absence() -> None:
    case_id = uuid4()

    refused = visit_made(completed(case_id, VisitOutcome.ENTRY_REFUSED))
    absent = visit_made(completed(case_id, VisitOutcome.NOT_MET))
    reached = visit_made(completed(case_id, VisitOutcome.TALKED_AT_DOOR))

    assert refused == absent
    assert refused["contact_made"] is False
    assert "outcome" not in refused
    assert reached["outcome"] == "talked_at_door"


def steps_of(app: Contacts, case_id: UUID) -> list[Any]:
    return [e for e in app.repository.event_store.get(case_id) if hasattr(e, "kind")]


def test_an_automatic_cancellation_is_noted_as_automatic(app: Contacts) -> None:
    case_id = report(app)
    cancelled = VisitCancelled(
        visit_id=uuid4(),
        case_id=case_id,
        reason=VisitCancelledReason.CONTACT_RESTORED_BEFORE_VISIT,
        cancelled_on=TODAY,
        cancelled_by="system",
    )
    effect = as_consumed(visit_steps.consumer(app, prefix="contacts").effect)

    assert effect(envelope(cancelled, uuid4()), Tracking("contacts-visit-steps/1", 1))

    [noted] = steps_of(app, case_id)
    assert noted.kind == "visit_cancelled"
    assert noted.details["automatic"] is True
    assert noted.details["reason"] == "contact_restored_before_visit"


def test_an_announced_visit_and_the_steps_of_its_letter_are_in_the_cases_own_log(
    app: Contacts, cipher: PersonalDataCipher
) -> None:
    case_id = report(app)
    case = app.get_case(case_id)
    subject = case.subject_id
    first = TODAY + timedelta(days=7)
    announced = VisitAnnounced(
        visit_id=uuid4(),
        case_id=case_id,
        workers=["ow-yilmaz", "ow-becker"],
        schedule=Schedule(first_day=first, last_day=first),
        purpose=VisitPurpose.FIRST_CONTACT,
        place=MeetingPlace.HOME,
        announced_on=TODAY,
        name=cipher.seal(subject, "Erika"),
        address=cipher.seal(subject, "Weg 1"),
        announced_by="ow-yilmaz",
    )
    letter, email = uuid4(), uuid4()
    queued = NotificationQueued(
        notification_id=letter,
        idempotency_key="k.visit_announcement.v1",
        channel=NotificationChannel.LETTER,
        template="visit_announcement",
        template_version=1,
        recipient_kind=RecipientKind.PERSON,
        source_event_id=uuid4(),
        source_event_type="VisitAnnounced",
    )
    events = [
        envelope(queued, subject),
        envelope(
            NotificationFailed(
                notification_id=letter,
                attempt=1,
                error="letterhead_missing: no letterhead is configured for district kassel",
                next_attempt_at=datetime.now(UTC),
            ),
            subject,
        ),
        envelope(
            NotificationSent(
                notification_id=letter,
                idempotency_key="k.visit_announcement.v1",
                channel=NotificationChannel.LETTER,
                attempt=2,
                sent_at=datetime.now(UTC),
                print_day=TODAY,
            ),
            subject,
        ),
        # An e-mail about the person to their case manager: not a letter of this case.
        envelope(
            NotificationSent(
                notification_id=email,
                idempotency_key="k.contact_restored.v1",
                channel=NotificationChannel.EMAIL,
                attempt=1,
                sent_at=datetime.now(UTC),
            ),
            subject,
        ),
    ]

    visit_effect = as_consumed(visit_steps.consumer(app, prefix="contacts").effect)
    letter_effect = as_consumed(
        letters.consumer(
            CaseLetters(app, lambda person, district: case_id), prefix="contacts"
        ).effect
    )
    assert visit_effect(envelope(announced, subject), Tracking("contacts-visit-steps/1", 1))
    for index, event in enumerate(events):
        assert letter_effect(event, Tracking(f"contacts-letters/{index}", 1))

    steps = [
        (type(e).__name__, e.kind)
        for e in app.repository.event_store.get(case_id)
        if hasattr(e, "kind")
    ]
    assert steps == [
        ("VisitNoted", "visit_announced"),
        ("LetterNoted", "letter_queued"),
        ("LetterNoted", "letter_held"),
        ("LetterNoted", "letter_sent"),
    ]
    held = [
        e
        for e in app.repository.event_store.get(case_id)
        if getattr(e, "kind", "") == "letter_held"
    ]
    assert held[0].details["error"].startswith("letterhead_missing")


def test_an_email_to_staff_is_not_a_step_of_the_timeline(app: Contacts) -> None:
    case_id = report(app)
    queued = NotificationQueued(
        notification_id=uuid4(),
        idempotency_key="k.contact_restored.v1",
        channel=NotificationChannel.EMAIL,
        template="contact_restored",
        template_version=1,
        recipient_kind=RecipientKind.CASE_MANAGER,
        recipient="cm-mueller",
        source_event_id=uuid4(),
        source_event_type="ContactRestored",
    )
    effect = as_consumed(
        letters.consumer(
            CaseLetters(app, lambda person, district: case_id), prefix="contacts"
        ).effect
    )

    assert effect(envelope(queued, uuid4()), Tracking("contacts-letters/1", 1))  # tracked

    assert steps_of(app, case_id) == []
