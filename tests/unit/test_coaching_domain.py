"""Domain rules of the coaching service: terms, caseload, extensions, ends, programmes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import uuid4

import coaching.domain as coaching_domain
import pytest
from coaching.domain import (
    AlreadyEnrolledError,
    CaseClosedError,
    CaseCoaching,
    Coach,
    CoachAlreadyAssignedError,
    CoachAtFullCaseloadError,
    Coaching,
    CoachingEndedError,
    CoachingNotActiveError,
    CoachingStatus,
    CoachNotOfProviderError,
    ContractTerms,
    DateOutOfRangeError,
    ExtensionLimitReachedError,
    ExtensionNeedsTeamLeadError,
    HouseholdRelation,
    InvalidContractTermsError,
    InvalidHandoverFieldsError,
    KnownCase,
    Programme,
    ProgrammeFullError,
    ProgrammeNotOpenError,
    Provider,
    ProviderDoesNotServeDistrictError,
    add_months,
)
from eventsourcing.utils import get_topic, resolve_topic

from shared.contracts.coaching import CoachingEndReason, CoachingSource, ExtensionReason
from shared.contracts.visits import Need
from shared.dates import DateInFutureError
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.privacy import PersonalDataCipher

pytestmark = pytest.mark.unit

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def team_lead() -> Iterator[None]:
    """The tests' commands are a team lead's (as an HTTP request of theirs)."""
    with acting_as(CommandContext(actor="tl-schmidt", role="team_lead", trace={})):
        yield


def provider(
    terms: ContractTerms | None = None, districts: tuple[str, ...] = ("kassel",)
) -> Provider:
    return Provider.register(
        provider_id=uuid4(),
        name="Sculpture - Institut für Qualifizierung",
        districts=districts,
        terms=terms or ContractTerms(),
    )


def coach(of: Provider, user: str = "pc-weber", max_caseload: int = 2) -> Coach:
    return Coach.register(
        user=user,
        provider=of,
        display_name="Jana Weber",
        max_caseload=max_caseload,
        emergency_line="0561 7654321",
    )


def requested(district: str = "kassel", **overrides: Any) -> Coaching:
    arguments: dict[str, Any] = {
        "coaching_id": uuid4(),
        "case_id": uuid4(),
        "subject_id": uuid4(),
        "district": district,
        "source": CoachingSource.VISIT_REFERRAL,
        "needs": [Need.DEBT, Need.THREATENED_LOSS_OF_HOUSING],
        "shared_fields": ["name", "address", "phone", "needs"],
        "today": TODAY,
    }
    arguments.update(overrides)
    return Coaching.request(**arguments)


def active(terms: ContractTerms | None = None) -> tuple[Coaching, Provider, Coach]:
    of = provider(terms)
    who = coach(of)
    coaching = requested()
    coaching.assign_coach(provider=of, coach=who, starts_on=TODAY)
    return coaching, of, who


def test_months_are_added_to_the_same_day_or_the_last_of_a_shorter_month() -> None:
    assert add_months(date(2026, 11, 23), 4) == date(2027, 3, 23)
    assert add_months(date(2026, 10, 31), 4) == date(2027, 2, 28)
    assert add_months(date(2026, 12, 1), 1) == date(2027, 1, 1)


def test_an_assigned_coach_carries_the_coaching_for_the_initial_term_of_four_months() -> None:
    coaching, of, _ = active()

    assert coaching.status is CoachingStatus.ACTIVE
    assert coaching.provider_id == of.id
    assert coaching.coach == "pc-weber"
    assert (coaching.starts_on, coaching.ends_on) == (TODAY, date(2027, 3, 23))


def test_the_initial_term_follows_the_providers_contract() -> None:
    coaching, _, _ = active(ContractTerms(initial_months=6))

    assert coaching.ends_on == date(2027, 5, 23)


def test_invalid_contract_terms_are_rejected() -> None:
    with pytest.raises(InvalidContractTermsError):
        provider(ContractTerms(initial_months=0))
    with pytest.raises(InvalidContractTermsError):
        provider(ContractTerms(max_extensions=-1))


def test_a_coach_at_full_caseload_takes_no_further_person() -> None:
    of = provider()
    who = coach(of, max_caseload=1)
    who.take_place(uuid4())

    with pytest.raises(CoachAtFullCaseloadError) as raised:
        who.take_place(uuid4())

    assert raised.value.status == 409
    assert who.free_places == 0


def test_an_ended_coaching_releases_the_coachs_place() -> None:
    of = provider()
    who = coach(of, max_caseload=1)
    coaching_id = uuid4()
    who.take_place(coaching_id)
    who.release_place(coaching_id)

    assert who.free_places == 1


def test_a_provider_that_does_not_serve_the_district_gets_no_coaching_there() -> None:
    of = provider(districts=("darmstadt-dieburg",))
    coaching = requested(district="kassel")

    with pytest.raises(ProviderDoesNotServeDistrictError):
        coaching.assign_coach(provider=of, coach=coach(of), starts_on=TODAY)


def test_a_provider_runs_the_outreach_only_in_districts_it_serves_and_until_it_ends() -> None:
    of = provider(districts=("kassel", "werra-meissner"))

    with pytest.raises(ProviderDoesNotServeDistrictError):
        of.contract_outreach("darmstadt-dieburg")
    assert of.contract_outreach("kassel") is True
    assert of.contract_outreach("kassel") is False  # nothing recorded twice
    assert of.outreach_districts == ["kassel"]
    assert of.end_outreach_contract("werra-meissner") is False
    assert of.end_outreach_contract("kassel") is True
    assert of.outreach_districts == []
    assert [type(e).__name__ for e in of.collect_events()] == [
        "Registered",
        "OutreachContracted",
        "OutreachContractEnded",
    ]


def test_a_coach_of_another_provider_cannot_be_assigned() -> None:
    coaching = requested()

    with pytest.raises(CoachNotOfProviderError):
        coaching.assign_coach(provider=provider(), coach=coach(provider()), starts_on=TODAY)


def test_a_coaching_gets_one_coach() -> None:
    coaching, of, who = active()

    with pytest.raises(CoachAlreadyAssignedError):
        coaching.assign_coach(provider=of, coach=who, starts_on=TODAY)


def test_an_extension_adds_one_extension_term_and_needs_a_team_lead() -> None:
    coaching, of, _ = active(ContractTerms(extension_months=2, max_extensions=1))

    with pytest.raises(ExtensionNeedsTeamLeadError) as raised:
        coaching.extend(
            terms=of.terms,
            reason=ExtensionReason.NEEDS_FURTHER_STABILISATION,
            until=None,
            by_team_lead=False,
        )
    assert raised.value.status == 403
    assert coaching.ends_on == date(2027, 3, 23)

    coaching.extend(
        terms=of.terms,
        reason=ExtensionReason.NEEDS_FURTHER_STABILISATION,
        until=None,
        by_team_lead=True,
    )
    assert coaching.ends_on == date(2027, 5, 23)
    assert coaching.extensions == 1


def test_no_extension_beyond_the_contracts_maximum() -> None:
    coaching, of, _ = active(ContractTerms(max_extensions=1))
    extend: dict[str, Any] = {
        "terms": of.terms,
        "reason": ExtensionReason.OTHER,
        "until": None,
        "by_team_lead": True,
    }
    coaching.extend(**extend)

    with pytest.raises(ExtensionLimitReachedError) as raised:
        coaching.extend(**extend)

    assert raised.value.extra["max_extensions"] == 1
    assert coaching.extensions == 1


def test_an_extension_ends_within_one_extension_term() -> None:
    coaching, of, _ = active(ContractTerms(extension_months=2))

    with pytest.raises(DateOutOfRangeError):
        coaching.extend(
            terms=of.terms,
            reason=ExtensionReason.OTHER,
            until=date(2027, 9, 1),
            by_team_lead=True,
        )
    coaching.extend(
        terms=of.terms,
        reason=ExtensionReason.OTHER,
        until=date(2027, 4, 30),
        by_team_lead=True,
    )
    assert coaching.ends_on == date(2027, 4, 30)


def test_a_requested_coaching_cannot_be_extended() -> None:
    with pytest.raises(CoachingNotActiveError):
        requested().extend(
            terms=ContractTerms(),
            reason=ExtensionReason.OTHER,
            until=None,
            by_team_lead=True,
        )


def test_declining_ends_the_coaching_like_any_other_reason_and_records_nothing_else() -> None:
    coaching, _, _ = active()

    coaching.end(reason=CoachingEndReason.PERSON_DECLINED, ended_on=TODAY, today=TODAY)

    assert coaching.status is CoachingStatus.ENDED
    (ended,) = [e for e in coaching.collect_events() if isinstance(e, Coaching.Ended)]
    assert set(ended.__dict__) - {"originator_id", "originator_version", "timestamp"} == {
        "case_id",
        "reason",
        "ended_on",
        "sessions_held",
        "meta",
    }


def test_an_ended_coaching_takes_no_further_facts() -> None:
    coaching, _, _ = active()
    coaching.end(reason=CoachingEndReason.STABILISED, ended_on=TODAY, today=TODAY)

    with pytest.raises(CoachingEndedError):
        coaching.record_session(held_on=TODAY, today=TODAY)
    with pytest.raises(CoachingEndedError):
        coaching.end(reason=CoachingEndReason.OTHER, ended_on=TODAY, today=TODAY)


def test_sessions_are_counted_within_the_term_and_never_in_the_future() -> None:
    coaching, _, _ = active()
    coaching.record_session(held_on=TODAY, today=TODAY)

    with pytest.raises(DateInFutureError):
        coaching.record_session(held_on=date(2026, 11, 24), today=TODAY)
    with pytest.raises(DateOutOfRangeError):
        coaching.record_session(held_on=date(2026, 11, 1), today=TODAY)
    assert coaching.sessions_held == 1


def test_only_allow_listed_fields_can_be_shared_and_needs_only_with_consent() -> None:
    with pytest.raises(InvalidHandoverFieldsError):
        requested(shared_fields=["name", "note"])

    coaching = requested(shared_fields=["phone"], needs=[Need.DEBT])

    assert coaching.shared_fields == ["phone"]
    assert coaching.needs == []


def test_household_members_are_recorded_with_sealed_names(cipher: PersonalDataCipher) -> None:
    subject = cipher.subject_for("123D456789")
    coaching = requested(subject_id=subject)
    coaching.add_household_member(
        name=cipher.seal(subject, "Mia Beispiel"), relation=HouseholdRelation.CHILD
    )

    (added,) = [
        e for e in coaching.collect_events() if isinstance(e, Coaching.HouseholdMemberAdded)
    ]
    assert added.name.startswith("pii:v1:")
    assert cipher.open(added.name) == "Mia Beispiel"


# --- group programmes ---------------------------------------------------------------------


def programme(capacity: int = 2, open_to_neighbouring: bool = False) -> Programme:
    return Programme.plan(
        programme_id=uuid4(),
        district="kreis-borken",
        local_office="bocholt",
        title="Lebensgeschichten schreiben",
        target_group="Alleinerziehende",
        dates=[date(2026, 11, 16), date(2026, 11, 23), date(2026, 11, 30)],
        capacity=capacity,
        open_to_neighbouring=open_to_neighbouring,
        mobile=False,
    )


def enrol(group: Programme, district: str = "kreis-borken") -> Any:
    case_id = uuid4()
    group.enrol(case_id=case_id, subject_id=uuid4(), participant_district=district, today=TODAY)
    return case_id


def test_a_full_programme_takes_no_further_participant() -> None:
    group = programme(capacity=1)
    enrol(group)

    with pytest.raises(ProgrammeFullError) as raised:
        enrol(group)

    assert raised.value.code == "programme_full"
    assert raised.value.status == 409
    assert len(group.participants) == 1


def test_a_person_is_enrolled_once() -> None:
    group = programme()
    case_id = enrol(group)

    with pytest.raises(AlreadyEnrolledError):
        group.enrol(
            case_id=case_id,
            subject_id=uuid4(),
            participant_district="kreis-borken",
            today=TODAY,
        )


def test_people_of_neighbouring_municipalities_join_only_an_open_programme() -> None:
    with pytest.raises(ProgrammeNotOpenError):
        enrol(programme(), district="kreis-coesfeld")

    open_group = programme(open_to_neighbouring=True)
    enrol(open_group, district="kreis-coesfeld")
    assert len(open_group.participants) == 1


def test_attendance_is_recorded_for_programme_dates_and_completion_once() -> None:
    group = programme()
    case_id = enrol(group)

    group.record_attendance(
        case_id=case_id, session_on=date(2026, 11, 16), present=True, today=TODAY
    )
    with pytest.raises(DateOutOfRangeError):
        group.record_attendance(
            case_id=case_id, session_on=date(2026, 11, 17), present=True, today=TODAY
        )
    with pytest.raises(DateInFutureError):
        group.record_attendance(
            case_id=case_id, session_on=date(2026, 11, 30), present=True, today=TODAY
        )
    group.complete(case_id=case_id, completed_on=TODAY, today=TODAY)
    assert group.participants[case_id] is True


def test_the_contract_terms_default_to_four_months_and_refuse_figures_out_of_range() -> None:
    assert ContractTerms() == ContractTerms(initial_months=4, extension_months=2, max_extensions=2)
    for terms, field in [
        (ContractTerms(initial_months=25), "initial_term_months"),
        (ContractTerms(extension_months=0), "extension_months"),
        (ContractTerms(extension_months=13), "extension_months"),
        (ContractTerms(max_extensions=7), "max_extensions"),
    ]:
        with pytest.raises(InvalidContractTermsError) as raised:
            terms.check_is_valid()
        assert raised.value.extra["field"] == field
    ContractTerms(initial_months=24, extension_months=12, max_extensions=0).check_is_valid()


def test_a_closed_case_takes_no_new_coaching_request() -> None:
    case = KnownCase(case_id=uuid4(), subject_id=uuid4(), district="kassel", is_open=False)

    with pytest.raises(CaseClosedError) as raised:
        case.check_open()

    assert raised.value.status == 409
    KnownCase(case_id=uuid4(), subject_id=uuid4(), district="kassel").check_open()


def test_only_a_team_lead_extends_and_only_an_active_coaching_of_its_provider() -> None:
    with pytest.raises(ExtensionNeedsTeamLeadError):
        requested().extending_provider(by_team_lead=False)
    with pytest.raises(CoachingNotActiveError):
        requested().extending_provider(by_team_lead=True)
    coaching, of, _ = active()

    assert coaching.extending_provider(by_team_lead=True) == of.id


def test_the_events_keep_the_topics_they_were_stored_under() -> None:
    """The projections select the stored log by these topics, and stored events resolve to
    their classes by them: moving a class into another module must not change them."""
    coaching, of, who = active()
    coaching.end(reason=CoachingEndReason.STABILISED, ended_on=TODAY, today=TODAY)
    index = CaseCoaching.start(coaching.case_id)
    index.open(coaching.id)
    group = programme()
    aggregates = (of, who, coaching, index, group)

    stored = [get_topic(type(e)) for a in aggregates for e in a.collect_events()]

    assert stored == [
        "coaching.domain:Provider.Registered",
        "coaching.domain:Provider.CoachAdded",
        "coaching.domain:Coach.Registered",
        "coaching.domain:Coaching.Requested",
        "coaching.domain:Coaching.CoachAssigned",
        "coaching.domain:Coaching.Ended",
        "coaching.domain:CaseCoaching.Started",
        "coaching.domain:CaseCoaching.Opened",
        "coaching.domain:Programme.Planned",
    ]
    for name in ("Provider", "Coach", "Coaching", "CaseCoaching", "Programme"):
        assert resolve_topic(f"coaching.domain:{name}") is getattr(coaching_domain, name)
    assert resolve_topic("coaching.domain:Coaching.Extended") is Coaching.Extended
    assert resolve_topic("coaching.domain:Coach.PlaceReleased") is Coach.PlaceReleased
    assert resolve_topic("coaching.domain:CaseCoaching.Closed") is CaseCoaching.Closed
    assert (
        resolve_topic("coaching.domain:Programme.ParticipationCompleted")
        is Programme.ParticipationCompleted
    )
    assert (
        resolve_topic("coaching.domain:Provider.OutreachContractEnded")
        is Provider.OutreachContractEnded
    )
