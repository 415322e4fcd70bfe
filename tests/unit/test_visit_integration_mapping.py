"""Visits' domain events -> integration events, and what contacts makes of a visit's outcome
(the visits side of the contacts topic: ``tests/unit/test_visits_messaging.py``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from contacts.application import Contacts, PersonDetails
from contacts.domain import CaseStatus
from contacts.messaging import visit_outcomes
from eventsourcing.persistence import Tracking
from visits.domain import CaseVisits, Schedule, Visit
from visits.integration import to_integration_event

from shared.contracts import Envelope, Payload, parse_envelope, stable_event_id
from shared.contracts.contacts import (
    ContactChannel,
    ContactLostReason,
)
from shared.contracts.visits import (
    Need,
    NextStep,
    VisitAnnounced,
    VisitCancelled,
    VisitCancelledReason,
    VisitCompleted,
    VisitOutcome,
    VisitRescheduled,
)
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.privacy import PersonalDataCipher
from tests.support.contracts import assert_matches_its_schema

from .support import as_consumed
from .visit_support import RULES, TODAY, acting, announce_visit

pytestmark = pytest.mark.unit

NOTE = "Vermieter droht mit Kündigung, Zyxnote"


def completed_visit(
    cipher: PersonalDataCipher, outcome: VisitOutcome, *, consent: bool
) -> tuple[Visit, Any]:
    visit = announce_visit(cipher)
    with acting(visit.subject_id):
        visit.complete(
            outcome=outcome,
            needs=[Need.DEBT, Need.THREATENED_LOSS_OF_HOUSING],
            note=cipher.seal(visit.subject_id, NOTE),
            coaching_referral_consent=consent,
            next_step=NextStep.COACHING_REFERRAL if consent else NextStep.REVISIT,
            completed_on=TODAY + timedelta(days=7),
            attempt_number=1,
            today=TODAY + timedelta(days=7),
        )
    return visit, visit.collect_events()[-1]


def published(domain_event: Any) -> Envelope[Payload]:
    outgoing = to_integration_event(domain_event)
    assert outgoing is not None
    wire = outgoing.envelope.model_dump(mode="json", serialize_as_any=True)
    assert_matches_its_schema(wire)  # what an integration team validates
    return parse_envelope(wire)  # what a consumer reads


def test_an_announcement_with_a_time_slot_matches_its_published_schema(
    cipher: PersonalDataCipher,
) -> None:
    visit = announce_visit(
        cipher, schedule=Schedule.on(TODAY + timedelta(days=7), time(9), time(11, 30))
    )

    envelope = published(visit.collect_events()[0])

    assert isinstance(envelope.payload, VisitAnnounced)
    wire = envelope.model_dump(mode="json")
    assert wire["payload"]["schedule"]["time_from"] == "09:00:00"
    assert wire["payload"]["schedule"]["time_to"] == "11:30:00"


def test_an_announcement_is_published_with_what_the_letter_needs(
    cipher: PersonalDataCipher,
) -> None:
    visit = announce_visit(cipher)
    announced = visit.collect_events()[0]

    envelope = published(announced)

    payload = envelope.payload
    assert isinstance(payload, VisitAnnounced)
    assert envelope.event_id == stable_event_id("visits", visit.id, 1)
    assert envelope.producer == "visits"
    assert envelope.district == "kassel"
    assert envelope.subject == visit.subject_id
    assert payload.case_id == visit.case_id
    assert payload.name == visit.name
    assert payload.address == visit.address
    assert cipher.open(payload.address) == "Wilhelmshöher Allee 1, 34117 Kassel"
    assert payload.workers == ["ow-yilmaz", "ow-becker"]
    assert payload.schedule.first_day == TODAY + timedelta(days=7)
    assert payload.announced_by == "ow-yilmaz"


def test_a_rescheduled_visit_is_a_complete_new_announcement(cipher: PersonalDataCipher) -> None:
    visit = announce_visit(cipher)
    with acting(visit.subject_id):
        visit.reschedule(
            schedule=Schedule.window(TODAY + timedelta(days=10), TODAY + timedelta(days=11)),
            announced_on=TODAY,
            today=TODAY,
            rules=RULES,
        )

    payload = published(visit.collect_events()[-1]).payload

    assert isinstance(payload, VisitRescheduled)
    assert payload.case_id == visit.case_id
    assert payload.address == visit.address
    assert payload.schedule.last_day == TODAY + timedelta(days=11)


def test_a_cancellation_names_its_reason(cipher: PersonalDataCipher) -> None:
    visit = announce_visit(cipher)
    with acting(visit.subject_id):
        visit.cancel(reason=VisitCancelledReason.PERSON_MOVED, today=TODAY)

    payload = published(visit.collect_events()[-1]).payload

    assert isinstance(payload, VisitCancelled)
    assert payload.reason is VisitCancelledReason.PERSON_MOVED
    assert payload.case_id == visit.case_id


def test_the_note_is_never_published_and_the_needs_only_with_consent(
    cipher: PersonalDataCipher,
) -> None:
    for consent, needs in ((True, [Need.DEBT, Need.THREATENED_LOSS_OF_HOUSING]), (False, None)):
        _, completed = completed_visit(cipher, VisitOutcome.MET_AND_TALKED, consent=consent)
        envelope = published(completed)
        payload = envelope.payload
        assert isinstance(payload, VisitCompleted)
        assert payload.needs == needs
        assert payload.coaching_referral_consent is consent
        wire = envelope.model_dump_json()
        assert "note" not in payload.model_dump()
        assert completed.note is not None
        assert completed.note not in wire


@pytest.mark.parametrize(
    ("outcome", "contact_made"),
    [
        (VisitOutcome.MET_AND_TALKED, True),
        (VisitOutcome.TALKED_AT_DOOR, True),
        (VisitOutcome.MET_ELSEWHERE, True),
        (VisitOutcome.NOT_MET, False),
        (VisitOutcome.ENTRY_REFUSED, False),
    ],
)
def test_a_completed_visit_says_whether_the_person_was_reached(
    cipher: PersonalDataCipher, outcome: VisitOutcome, contact_made: bool
) -> None:
    _, completed = completed_visit(cipher, outcome, consent=False)

    payload = published(completed).payload

    assert isinstance(payload, VisitCompleted)
    assert payload.outcome is outcome
    assert payload.contact_made is contact_made


def test_the_case_visit_index_stays_internal() -> None:
    index = CaseVisits.start(uuid4())
    index.open(uuid4())

    assert [to_integration_event(e) for e in index.collect_events()] == [None, None]


def contacts_envelope(payload: Payload, district: str = "kassel") -> Envelope[Payload]:
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    envelope: Envelope[Payload] = contract(
        event_id=uuid4(),
        event_type=payload.event_type,
        schema_version=1,
        occurred_at=datetime.now(UTC),
        producer="contacts",
        district=district,
        subject=uuid4(),
        correlation_id=uuid4(),
        payload=payload,
    )
    return envelope


def visit_completed(outcome: VisitOutcome, case_id: UUID) -> Envelope[Payload]:
    payload = VisitCompleted(
        visit_id=uuid4(),
        case_id=case_id,
        outcome=outcome,
        contact_made=outcome.contact_made,
        completed_on=TODAY,
        attempt_number=1,
        coaching_referral_consent=False,
        next_step=NextStep.NONE,
        recorded_by="ow-yilmaz",
    )
    return contacts_envelope(payload)


def contacts_app(cipher: PersonalDataCipher) -> tuple[Contacts, UUID]:
    """Contacts in memory, with one case whose contact was lost."""
    app = Contacts(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, cipher=cipher, today=lambda: TODAY
    )
    with acting_as(CommandContext(actor="cm-mueller", role="case_manager", trace={})):
        case_id = app.report_contact_lost(
            district="kassel",
            local_office="mitte",
            person=PersonDetails(customer_number="123D456789", name="E M", address="A 1, 34117 K"),
            reason=ContactLostReason.MISSED_APPOINTMENTS,
            unanswered_letters=1,
            missed_appointments=2,
            last_contact_on=date(2026, 3, 2),
            deadline=None,
            case_manager="cm-mueller",
        )
    return app, case_id


def test_contacts_restores_the_contact_after_a_visit_that_reached_the_person(
    cipher: PersonalDataCipher,
) -> None:
    app, case_id = contacts_app(cipher)
    effect = as_consumed(visit_outcomes.consumer(app, prefix="contacts").effect)
    for outcome in (VisitOutcome.NOT_MET, VisitOutcome.ENTRY_REFUSED):
        tracking = Tracking(f"contacts-visit-outcomes/{uuid4()}", 1)
        assert effect(visit_completed(outcome, case_id), tracking) is True  # tracked only
        assert app.recorder.has_tracking_id(tracking.application_name, 1)
    assert app.get_case(case_id).status is CaseStatus.CONTACT_LOST

    envelope = visit_completed(VisitOutcome.TALKED_AT_DOOR, case_id)
    assert effect(envelope, Tracking(f"contacts-visit-outcomes/{uuid4()}", 1)) is True

    case = app.get_case(case_id)
    assert case.status is CaseStatus.CONTACT_RESTORED
    assert case.restored_channel is ContactChannel.HOME_VISIT
    restored = list(app.repository.event_store.get(case_id))[-1]
    assert restored.restored_on == TODAY
    assert restored.meta["actor"] == "ow-yilmaz"
    assert restored.meta["causation_id"] == str(envelope.event_id)


def test_contacts_applies_a_visit_outcome_once_and_a_second_restoration_is_a_no_op(
    cipher: PersonalDataCipher,
) -> None:
    app, case_id = contacts_app(cipher)
    effect = as_consumed(visit_outcomes.consumer(app, prefix="contacts").effect)
    first = visit_completed(VisitOutcome.MET_AND_TALKED, case_id)
    second = visit_completed(VisitOutcome.MET_ELSEWHERE, case_id)
    tracking = Tracking(f"contacts-visit-outcomes/{uuid4()}", 1)
    other = Tracking(f"contacts-visit-outcomes/{uuid4()}", 1)

    assert effect(first, tracking) is True
    assert effect(first, tracking) is False  # redelivered
    assert effect(second, other) is True  # restored already: tracking only
    case = app.get_case(case_id)
    assert case.status is CaseStatus.CONTACT_RESTORED
    assert case.restored_channel is ContactChannel.HOME_VISIT
    assert case.version == 2
    assert app.recorder.has_tracking_id(other.application_name, 1)
