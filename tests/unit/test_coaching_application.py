"""The coaching application over the library's in-memory persistence, its integration
mapping and policy, and the contacts side that notes coaching facts in the case."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from coaching.api.schemas import RegisterProvider
from coaching.application import Coachings
from coaching.domain import (
    INITIAL_TERM_MONTHS,
    CaseClosedError,
    CoachAtFullCaseloadError,
    Coaching,
    CoachingAlreadyOpenError,
    CoachingNotActiveError,
    CoachingStatus,
    ContractTerms,
    ExtensionLimitReachedError,
    ExtensionNeedsTeamLeadError,
    HouseholdRelation,
    KnownCase,
)
from coaching.integration import to_integration_event
from coaching.messaging import on_visit_completed
from contacts.application import Contacts, PersonDetails
from contacts.domain import CaseStatus, OutreachCase
from contacts.messaging import coaching_notes
from eventsourcing.persistence import Tracking

from shared.contracts import Envelope, Payload, parse_envelope
from shared.contracts.coaching import (
    CoachAssigned,
    CoachingEnded,
    CoachingEndReason,
    CoachingRequested,
    CoachingSource,
    ExtensionReason,
    ProgrammeParticipantEnrolled,
    ProgrammeParticipationCompleted,
    ProviderOutreachContracted,
    ProviderOutreachContractEnded,
)
from shared.contracts.contacts import ContactLostReason
from shared.contracts.visits import Need, NextStep, VisitCompleted, VisitOutcome
from shared.eventsourcing.meta import CommandContext, acting_as, concerning
from shared.privacy import PersonalDataCipher
from tests.support.contracts import assert_matches_its_schema

from .support import TODAY, as_consumed, context

pytestmark = pytest.mark.unit

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
MORE = ExtensionReason.NEEDS_FURTHER_STABILISATION


@pytest.fixture(autouse=True)
def case_manager() -> Iterator[None]:
    """The tests' commands are a case manager's (as an HTTP request of theirs)."""
    with acting_as(context()):
        yield


@pytest.fixture
def app(cipher: PersonalDataCipher) -> Coachings:
    return Coachings(env=POPO, cipher=cipher, today=lambda: TODAY)


def known_case(cipher: PersonalDataCipher, district: str = "kassel") -> KnownCase:
    return KnownCase(case_id=uuid4(), subject_id=cipher.subject_for(uuid4().hex), district=district)


def registry(app: Coachings, caseloads: dict[str, int], terms: ContractTerms | None = None) -> UUID:
    with acting_as(context("tl-schmidt", "team_lead")):
        provider_id = app.register_provider(
            name="Sculpture", districts=["kassel"], terms=terms or ContractTerms()
        )
        for user, places in caseloads.items():
            app.register_coach(
                provider_id,
                user=user,
                display_name=user,
                max_caseload=places,
                emergency_line="0561 1",
            )
    return provider_id


def request(app: Coachings, case: KnownCase) -> UUID:
    return app.request_coaching(case, needs=[Need.DEBT], shared_fields=["name", "phone", "needs"])


def visit_completed(
    case: KnownCase, *, next_step: NextStep, consent: bool, needs: list[Need] | None = None
) -> Envelope[VisitCompleted]:
    payload = VisitCompleted(
        visit_id=uuid4(),
        case_id=case.case_id,
        outcome=VisitOutcome.MET_AND_TALKED,
        contact_made=True,
        completed_on=TODAY,
        attempt_number=1,
        coaching_referral_consent=consent,
        needs=needs,
        next_step=next_step,
        recorded_by="ow-yilmaz",
    )
    return Envelope[VisitCompleted](
        event_id=uuid4(),
        event_type="VisitCompleted",
        schema_version=1,
        occurred_at=datetime.now(UTC),
        producer="visits",
        district=case.district,
        subject=case.subject_id,
        correlation_id=uuid4(),
        payload=payload,
    )


def consume(app: Coachings, envelope: Envelope[VisitCompleted]) -> bool:
    """The visit-referrals consumer's effect, as the consumer runs it: in the message's
    context (the service, caused by the message), with the message's tracking record."""
    tracking = Tracking(
        application_name=f"coaching-visit-referrals/{envelope.event_id}", notification_id=1
    )
    with acting_as(CommandContext.following(envelope.event_id, envelope.correlation_id)):
        return on_visit_completed(app, envelope, tracking)


def requested_coachings(app: Coachings) -> list[Coaching.Requested]:
    return [
        event
        for n in app.recorder.select_notifications(start=None, limit=100)
        if isinstance(event := app.mapper.to_domain_event(n), Coaching.Requested)
    ]


def test_a_consented_coaching_referral_requests_a_coaching_once(
    app: Coachings, cipher: PersonalDataCipher
) -> None:
    case = known_case(cipher)
    envelope = visit_completed(
        case, next_step=NextStep.COACHING_REFERRAL, consent=True, needs=[Need.DEBT]
    )
    first, again = consume(app, envelope), consume(app, envelope)

    assert (first, again) == (True, False)
    (requested,) = requested_coachings(app)
    assert requested.meta["actor"] == "ow-yilmaz"  # on behalf of the visit's worker
    assert requested.meta["causation_id"] == str(envelope.event_id)
    coaching = app.get_coaching(requested.originator_id)
    assert coaching.source is CoachingSource.VISIT_REFERRAL
    assert coaching.needs == ["debt"]
    assert coaching.shared_fields == ["name", "address", "phone", "needs"]


@pytest.mark.parametrize(
    ("next_step", "consent"),
    [
        (NextStep.COACHING_REFERRAL, False),
        (NextStep.REVISIT, True),
        (NextStep.NONE, False),
    ],
)
def test_no_coaching_is_requested_without_referral_and_consent(
    app: Coachings, cipher: PersonalDataCipher, next_step: NextStep, consent: bool
) -> None:
    envelope = visit_completed(known_case(cipher), next_step=next_step, consent=consent)

    assert consume(app, envelope) is True  # processed: only its tracking is recorded
    assert consume(app, envelope) is False
    assert requested_coachings(app) == []


def test_one_open_coaching_per_case(app: Coachings, cipher: PersonalDataCipher) -> None:
    case = known_case(cipher)
    first = request(app, case)

    with pytest.raises(CoachingAlreadyOpenError) as raised:
        request(app, case)

    assert raised.value.extra["existing_coaching_id"] == str(first)


def test_a_case_manager_gets_no_coaching_for_a_closed_case(
    app: Coachings, cipher: PersonalDataCipher
) -> None:
    open_case = known_case(cipher)
    closed = KnownCase(open_case.case_id, open_case.subject_id, open_case.district, is_open=False)

    with pytest.raises(CaseClosedError) as raised:
        request(app, closed)

    assert raised.value.code == "case_closed"
    assert app.recorder.max_notification_id() in (None, 0)  # nothing recorded


def test_an_extension_follows_the_terms_of_the_coachings_provider(
    app: Coachings, cipher: PersonalDataCipher
) -> None:
    provider_id = registry(app, {"pc-one": 2}, ContractTerms(extension_months=3, max_extensions=1))
    coaching_id = request(app, known_case(cipher))
    assigned = app.assign_coach(
        coaching_id, provider_id=provider_id, coach_user="pc-one", starts_on=None
    )
    assert assigned.ends_on == date(2027, 3, 23)  # the initial term: four months

    extended = app.extend(coaching_id, reason=MORE, until=None, by_team_lead=True)

    assert extended.ends_on == date(2027, 6, 23)
    with pytest.raises(ExtensionLimitReachedError):
        app.extend(coaching_id, reason=MORE, until=None, by_team_lead=True)


def test_an_extension_is_refused_before_any_terms_are_looked_up(
    app: Coachings, cipher: PersonalDataCipher
) -> None:
    coaching_id = request(app, known_case(cipher))  # no coach, so no provider yet
    before = app.recorder.max_notification_id()

    with pytest.raises(ExtensionNeedsTeamLeadError):
        app.extend(coaching_id, reason=MORE, until=None, by_team_lead=False)
    with pytest.raises(CoachingNotActiveError):
        app.extend(coaching_id, reason=MORE, until=None, by_team_lead=True)

    assert app.recorder.max_notification_id() == before


def test_a_provider_registered_without_terms_gets_the_domains_default_terms() -> None:
    """The request model takes the contract's defaults and limits from the domain: a
    provider registered without terms has the domain's four months."""
    body = RegisterProvider.model_validate({"name": "Sculpture", "districts": ["kassel"]})

    assert body.terms() == ContractTerms()
    assert body.terms().initial_months == 4
    schema = RegisterProvider.model_json_schema()["properties"]["initial_term_months"]
    assert (schema["default"], schema["minimum"], schema["maximum"]) == (
        INITIAL_TERM_MONTHS.default,
        INITIAL_TERM_MONTHS.least,
        INITIAL_TERM_MONTHS.most,
    )


def test_a_coach_at_full_caseload_answers_who_of_the_provider_has_capacity(
    app: Coachings, cipher: PersonalDataCipher
) -> None:
    provider_id = registry(app, {"pc-full": 1, "pc-free": 3, "pc-also": 1})
    first = request(app, known_case(cipher))
    app.assign_coach(first, provider_id=provider_id, coach_user="pc-full", starts_on=None)
    second = request(app, known_case(cipher))
    before = app.recorder.max_notification_id()

    with pytest.raises(CoachAtFullCaseloadError) as raised:
        app.assign_coach(second, provider_id=provider_id, coach_user="pc-full", starts_on=None)

    assert raised.value.status == 409
    assert raised.value.extra["coaches_with_capacity"] == [
        {"coach": "pc-free", "display_name": "pc-free", "free_places": 3},
        {"coach": "pc-also", "display_name": "pc-also", "free_places": 1},
    ]
    assert app.recorder.max_notification_id() == before  # nothing changed
    assert app.get_coaching(second).status is CoachingStatus.REQUESTED


def test_ending_a_coaching_frees_the_coachs_place_and_the_case_for_a_new_request(
    app: Coachings, cipher: PersonalDataCipher
) -> None:
    provider_id = registry(app, {"pc-one": 1})
    case = known_case(cipher)
    coaching_id = request(app, case)
    app.assign_coach(coaching_id, provider_id=provider_id, coach_user="pc-one", starts_on=None)
    assert app.get_coach("pc-one").free_places == 0

    app.end(coaching_id, reason=CoachingEndReason.PERSON_DECLINED, ended_on=None)

    assert app.get_coach("pc-one").free_places == 1
    assert request(app, case) != coaching_id


def test_the_published_events_are_valid_contracts_without_personal_data(
    app: Coachings, cipher: PersonalDataCipher
) -> None:
    provider_id = registry(app, {"pc-one": 2})
    coaching_id = request(app, known_case(cipher))
    app.assign_coach(coaching_id, provider_id=provider_id, coach_user="pc-one", starts_on=None)
    app.add_household_member(coaching_id, name="Mia Geheim", relation=HouseholdRelation.CHILD)
    with acting_as(context("pc-one", "provider_coach")):
        app.record_session(coaching_id, held_on=None)
    app.end(coaching_id, reason=CoachingEndReason.STABILISED, ended_on=None)

    published = []
    for notification in app.recorder.select_notifications(start=None, limit=100):
        outgoing = to_integration_event(app.mapper.to_domain_event(notification))
        if outgoing is not None:
            published.append(outgoing.envelope)

    assert [type(e.payload) for e in published] == [
        CoachingRequested,
        CoachAssigned,
        CoachingEnded,
    ]
    for envelope in published:
        raw = envelope.model_dump_json()
        assert parse_envelope(raw) == envelope
        assert_matches_its_schema(envelope)
        assert "Mia Geheim" not in raw
    ended = published[-1].payload
    assert isinstance(ended, CoachingEnded)
    assert ended.sessions_held == 1


def test_a_providers_outreach_contract_is_published_per_district_under_the_providers_id(
    app: Coachings,
) -> None:
    provider_id = registry(app, {"pc-one": 2})
    app.set_outreach_contract(provider_id, "kassel", contracted=True)
    app.set_outreach_contract(provider_id, "kassel", contracted=True)
    app.set_outreach_contract(provider_id, "kassel", contracted=False)

    published = [
        outgoing.envelope
        for notification in app.recorder.select_notifications(start=None, limit=100)
        if (outgoing := to_integration_event(app.mapper.to_domain_event(notification)))
    ]

    assert [type(e.payload) for e in published] == [
        ProviderOutreachContracted,
        ProviderOutreachContractEnded,
    ]
    for envelope in published:
        assert envelope.subject == provider_id
        assert envelope.district == "kassel"
        assert parse_envelope(envelope.model_dump_json()) == envelope
        assert_matches_its_schema(envelope)


def test_a_programme_enrolment_and_completion_are_published_under_the_participant(
    app: Coachings, cipher: PersonalDataCipher
) -> None:
    with acting_as(context("tl-schmidt", "team_lead")):
        programme_id = app.plan_programme(
            district="kreis-borken",
            local_office="bocholt",
            title="Neue Wege",
            target_group="Alleinerziehende",
            dates=[TODAY],
            capacity=5,
            open_to_neighbouring=True,
            mobile=False,
        )
        case = known_case(cipher, district="kassel")
        app.enrol(programme_id, case)
        app.record_attendance(programme_id, case_id=case.case_id, session_on=TODAY, present=True)
        app.complete_participation(programme_id, case_id=case.case_id, completed_on=None)

    published = [
        outgoing.envelope
        for notification in app.recorder.select_notifications(start=None, limit=100)
        if (outgoing := to_integration_event(app.mapper.to_domain_event(notification)))
    ]

    assert [type(e.payload) for e in published] == [
        ProgrammeParticipantEnrolled,
        ProgrammeParticipationCompleted,
    ]
    for envelope in published:
        assert envelope.subject == case.subject_id
        assert envelope.district == "kreis-borken"  # the district that runs the programme
        assert parse_envelope(envelope.model_dump_json()) == envelope
        assert_matches_its_schema(envelope)
        assert "Neue Wege" not in envelope.model_dump_json()


def test_a_completion_stored_without_its_participant_stays_internal(
    app: Coachings, cipher: PersonalDataCipher
) -> None:
    with acting_as(context("tl-schmidt", "team_lead")):
        programme_id = app.plan_programme(
            district="kreis-borken",
            local_office="bocholt",
            title="Neue Wege",
            target_group="Alleinerziehende",
            dates=[TODAY],
            capacity=5,
            open_to_neighbouring=True,
            mobile=False,
        )
        case = known_case(cipher)
        app.enrol(programme_id, case)
        programme = app.get_programme(programme_id)
        with concerning(None, "kreis-borken"):  # as completions were recorded before
            programme.complete(case_id=case.case_id, completed_on=TODAY, today=TODAY)
        app.save(programme)

    (notification,) = app.recorder.select_notifications(start=None, limit=100)[-1:]

    assert to_integration_event(app.mapper.to_domain_event(notification)) is None


def test_the_contacts_case_notes_the_coach_assigned_and_the_end_in_its_own_log(
    cipher: PersonalDataCipher,
) -> None:
    contacts = Contacts(env=POPO, cipher=cipher, today=lambda: TODAY)
    case_id = contacts.report_contact_lost(
        district="kassel",
        local_office="mitte",
        person=PersonDetails(customer_number="123D456780", name="Erika", address="Weg 1"),
        reason=ContactLostReason.MISSED_APPOINTMENTS,
        unanswered_letters=1,
        missed_appointments=2,
        last_contact_on=date(2026, 3, 2),
        deadline=None,
        case_manager="cm-mueller",
    )
    subject = contacts.get_case(case_id).subject_id
    coaching_id = uuid4()
    events: list[Payload] = [
        CoachAssigned(
            coaching_id=coaching_id,
            case_id=case_id,
            provider_id=uuid4(),
            provider_name="Sculpture",
            coach="pc-weber",
            starts_on=TODAY,
            ends_on=date(2027, 3, 23),
            assigned_by="tl-schmidt",
        ),
        CoachingEnded(
            coaching_id=coaching_id,
            case_id=case_id,
            reason=CoachingEndReason.PERSON_DECLINED,
            ended_on=TODAY,
            sessions_held=0,
            ended_by="pc-weber",
        ),
    ]
    for payload in events:
        contract: Any = Envelope[type(payload)]  # type: ignore[misc]
        envelope = contract(
            event_id=uuid4(),
            event_type=payload.event_type,
            schema_version=1,
            occurred_at=datetime.now(UTC),
            producer="coaching",
            district="kassel",
            subject=subject,
            correlation_id=uuid4(),
            payload=payload,
        )
        effect = as_consumed(coaching_notes.consumer(contacts, prefix="contacts").effect)
        tracking = Tracking(
            application_name=f"contacts-coaching-notes/{envelope.event_id}", notification_id=1
        )
        assert effect(envelope, tracking)
        assert not effect(envelope, tracking)

    case = contacts.get_case(case_id)
    assert case.status is CaseStatus.CONTACT_LOST  # declining changes nothing about the case
    noted = [
        contacts.mapper.to_domain_event(n)
        for n in contacts.recorder.select_notifications(start=None, limit=100)
        if n.topic.endswith("CoachingNoted")
    ]
    assert all(isinstance(e, OutreachCase.CoachingNoted) for e in noted)
    assert [(e.kind, e.details.get("reason")) for e in noted] == [
        ("coach_assigned", None),
        ("coaching_ended", "person_declined"),
    ]
