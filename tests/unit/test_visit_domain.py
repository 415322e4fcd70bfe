"""The visit's rules: announcement lead time, windows, workers, places, outcomes."""

from __future__ import annotations

from datetime import time, timedelta
from uuid import uuid4

import pytest
from eventsourcing.utils import get_topic, resolve_topic
from visits.domain import (
    CaseVisits,
    InvalidScheduleError,
    InvalidWorkersError,
    LeadTimeTooShortError,
    NotAssignedToVisitError,
    PlaceDescriptionError,
    Schedule,
    Visit,
    VisitAlreadyAnnouncedError,
    VisitAlreadyCompletedError,
    VisitCancelledError,
    VisitNotBegunError,
    VisitStatus,
    WindowInPastError,
    address_sort_key,
)
from visits.settings import VisitsSettings

from shared.contracts.visits import (
    MeetingPlace,
    Need,
    NextStep,
    VisitCancelledReason,
    VisitOutcome,
)
from shared.privacy import PersonalDataCipher

from .visit_support import RULES, TODAY, acting, announce_visit

pytestmark = pytest.mark.unit


def complete(visit: Visit, outcome: VisitOutcome = VisitOutcome.MET_AND_TALKED) -> None:
    with acting(visit.subject_id):
        visit.complete(
            outcome=outcome,
            needs=[Need.DEBT],
            note=None,
            coaching_referral_consent=False,
            next_step=NextStep.NONE,
            completed_on=TODAY + timedelta(days=7),
            attempt_number=1,
            today=TODAY + timedelta(days=7),
        )


def test_an_announced_visit_records_who_comes_when_why_and_the_letter_address(
    cipher: PersonalDataCipher,
) -> None:
    visit = announce_visit(cipher)

    announced = visit.collect_events()[0]
    assert isinstance(announced, Visit.Announced)
    assert announced.workers == ["ow-yilmaz", "ow-becker"]
    assert announced.schedule["first_day"] == TODAY + timedelta(days=7)
    assert announced.purpose == "first_contact"
    assert announced.place == "home"
    assert announced.name.startswith("pii:v1:")
    assert announced.address.startswith("pii:v1:")
    assert visit.status is VisitStatus.ANNOUNCED


def test_the_letter_may_go_out_exactly_the_minimum_lead_time_before(
    cipher: PersonalDataCipher,
) -> None:
    visit = announce_visit(cipher, schedule=Schedule.on(TODAY + timedelta(days=5)))

    assert visit.schedule.first_day == TODAY + timedelta(days=5)


def test_a_shorter_lead_time_is_rejected(cipher: PersonalDataCipher) -> None:
    with pytest.raises(LeadTimeTooShortError) as raised:
        announce_visit(cipher, schedule=Schedule.on(TODAY + timedelta(days=4)))

    assert raised.value.code == "lead_time_too_short"
    assert raised.value.status == 422
    assert raised.value.extra == {"minimum_days": 5, "lead_days": 4}


def test_the_lead_time_is_counted_from_the_announcement_date(cipher: PersonalDataCipher) -> None:
    with pytest.raises(LeadTimeTooShortError):
        announce_visit(
            cipher,
            schedule=Schedule.on(TODAY + timedelta(days=7)),
            announced_on=TODAY + timedelta(days=3),
        )


def test_the_minimum_lead_time_is_a_district_setting(cipher: PersonalDataCipher) -> None:
    six_days = Schedule.on(TODAY + timedelta(days=6))
    announce_visit(cipher, schedule=six_days)  # kassel: the default of 5 days

    with pytest.raises(LeadTimeTooShortError):
        announce_visit(cipher, schedule=six_days, district="darmstadt-dieburg")
    assert RULES.lead_days_for("darmstadt-dieburg") == 7
    assert RULES.lead_days_for("elsewhere") == 5


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule.window(TODAY - timedelta(days=3), TODAY - timedelta(days=1)),
        Schedule.window(TODAY - timedelta(days=1), TODAY + timedelta(days=9)),
        Schedule.on(TODAY - timedelta(days=1)),
    ],
)
def test_a_window_in_the_past_is_rejected(cipher: PersonalDataCipher, schedule: Schedule) -> None:
    with pytest.raises(WindowInPastError) as raised:
        announce_visit(cipher, schedule=schedule)

    assert raised.value.code == "window_in_past"


def test_a_letter_cannot_be_dated_in_the_past(cipher: PersonalDataCipher) -> None:
    with pytest.raises(WindowInPastError):
        announce_visit(cipher, announced_on=TODAY - timedelta(days=10))


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule.window(TODAY + timedelta(days=9), TODAY + timedelta(days=8)),
        Schedule(TODAY + timedelta(days=8), TODAY + timedelta(days=9), time(9), time(11)),
        Schedule.on(TODAY + timedelta(days=8), time(11), time(9)),
        Schedule(TODAY + timedelta(days=8), TODAY + timedelta(days=8), time(9), None),
    ],
)
def test_an_inconsistent_schedule_is_rejected(
    cipher: PersonalDataCipher, schedule: Schedule
) -> None:
    with pytest.raises(InvalidScheduleError):
        announce_visit(cipher, schedule=schedule)


def test_a_date_with_a_time_slot_and_a_window_of_days_are_both_fine(
    cipher: PersonalDataCipher,
) -> None:
    slot = announce_visit(
        cipher, schedule=Schedule.on(TODAY + timedelta(days=8), time(9), time(11))
    )
    window = announce_visit(
        cipher, schedule=Schedule.window(TODAY + timedelta(days=8), TODAY + timedelta(days=10))
    )

    assert (slot.schedule.time_from, slot.schedule.time_to) == (time(9), time(11))
    assert window.schedule.time_from is None


@pytest.mark.parametrize("workers", [[], [""], ["  "], ["ow-a", "ow-b", "ow-c"], ["ow-a", ""]])
def test_one_or_two_named_workers_go_on_a_visit(
    cipher: PersonalDataCipher, workers: list[str]
) -> None:
    with pytest.raises(InvalidWorkersError):
        announce_visit(cipher, workers=workers)


def test_the_same_worker_named_twice_is_refused(cipher: PersonalDataCipher) -> None:
    """Two people were meant, one was named twice: the letter would say the wrong thing."""
    with pytest.raises(InvalidWorkersError) as raised:
        announce_visit(cipher, workers=["ow-a", "ow-a"])

    assert raised.value.status == 422
    assert raised.value.extra["field"] == "workers"
    assert announce_visit(cipher, workers=[" ow-a", "ow-b"]).workers == ["ow-a", "ow-b"]


def test_no_outcome_is_recorded_before_the_visits_first_day(cipher: PersonalDataCipher) -> None:
    visit = announce_visit(cipher)  # on IN_A_WEEK
    with pytest.raises(VisitNotBegunError) as raised, acting(visit.subject_id):
        visit.complete(
            outcome=VisitOutcome.NOT_MET,
            needs=[],
            note=None,
            coaching_referral_consent=False,
            next_step=NextStep.REVISIT,
            completed_on=TODAY + timedelta(days=6),
            attempt_number=1,
            today=TODAY + timedelta(days=6),
        )

    assert raised.value.status == 409
    assert raised.value.code == "visit_not_begun"
    assert visit.status is VisitStatus.ANNOUNCED
    assert len(visit.collect_events()) == 1  # only the announcement


def test_a_neutral_place_needs_a_description_and_a_home_visit_none(
    cipher: PersonalDataCipher,
) -> None:
    with pytest.raises(PlaceDescriptionError):
        announce_visit(cipher, place=MeetingPlace.NEUTRAL_PLACE)
    with pytest.raises(PlaceDescriptionError):
        announce_visit(cipher, place_description="pii:v1:00:abc")


def test_only_an_assigned_worker_or_a_team_lead_records_the_outcome(
    cipher: PersonalDataCipher,
) -> None:
    visit = announce_visit(cipher)

    visit.check_may_record_outcome("ow-yilmaz", is_team_lead=False)
    visit.check_may_record_outcome("tl-anna", is_team_lead=True)
    with pytest.raises(NotAssignedToVisitError) as raised:
        visit.check_may_record_outcome("ow-other", is_team_lead=False)
    assert raised.value.status == 403


def test_a_completed_visit_cannot_be_completed_again(cipher: PersonalDataCipher) -> None:
    visit = announce_visit(cipher)
    complete(visit)

    with pytest.raises(VisitAlreadyCompletedError) as raised:
        complete(visit, VisitOutcome.NOT_MET)
    assert raised.value.status == 409


def test_a_cancelled_visit_takes_no_outcome_and_no_new_date(cipher: PersonalDataCipher) -> None:
    visit = announce_visit(cipher)
    with acting(visit.subject_id):
        visit.cancel(reason=VisitCancelledReason.OTHER, today=TODAY)

    with pytest.raises(VisitCancelledError) as raised:
        complete(visit)
    assert raised.value.code == "visit_cancelled"
    with pytest.raises(VisitCancelledError), acting(visit.subject_id):
        visit.reschedule(
            schedule=Schedule.on(TODAY + timedelta(days=9)),
            announced_on=TODAY,
            today=TODAY,
            rules=RULES,
        )


def test_rescheduling_is_a_new_announcement_under_the_same_rules(
    cipher: PersonalDataCipher,
) -> None:
    visit = announce_visit(cipher)
    with pytest.raises(LeadTimeTooShortError), acting(visit.subject_id):
        visit.reschedule(
            schedule=Schedule.on(TODAY + timedelta(days=2)),
            announced_on=TODAY,
            today=TODAY,
            rules=RULES,
        )

    with acting(visit.subject_id):
        visit.reschedule(
            schedule=Schedule.window(TODAY + timedelta(days=10), TODAY + timedelta(days=12)),
            announced_on=TODAY,
            today=TODAY,
            rules=RULES,
        )

    rescheduled = visit.collect_events()[-1]
    assert isinstance(rescheduled, Visit.Rescheduled)
    assert rescheduled.address == visit.address  # what the new letter needs
    assert rescheduled.workers == visit.workers
    assert visit.schedule.last_day == TODAY + timedelta(days=12)


def test_refused_entry_is_recorded_exactly_like_not_being_met(cipher: PersonalDataCipher) -> None:
    """Nothing but the outcome itself tells the two apart: no flag, no other field."""
    events = []
    for outcome in (VisitOutcome.NOT_MET, VisitOutcome.ENTRY_REFUSED):
        visit = announce_visit(cipher)
        complete(visit, outcome)
        events.append(visit.collect_events()[-1])
    not_met, refused = events

    ignored = {"originator_id", "timestamp", "meta", "case_id", "outcome"}
    assert {k: v for k, v in vars(not_met).items() if k not in ignored} == {
        k: v for k, v in vars(refused).items() if k not in ignored
    }
    assert set(vars(refused)) == set(vars(not_met))


def test_a_case_has_one_announced_visit_at_a_time_and_counts_its_visits() -> None:
    case_visits = CaseVisits.start(uuid4())
    first, second = uuid4(), uuid4()
    case_visits.open(first)

    with pytest.raises(VisitAlreadyAnnouncedError):
        case_visits.open(second)
    case_visits.close(first, completed=True)
    case_visits.open(second)
    case_visits.close(second, completed=False)  # cancelled: not a visit that took place

    assert case_visits.pending_visit_id is None
    assert case_visits.next_attempt_number == 2
    assert CaseVisits.id_for(case_visits.case_id) == case_visits.id


def test_addresses_sort_by_postal_code_then_street_then_house_number() -> None:
    addresses = [
        "Wilhelmshöher Allee 200, 34119 Kassel",
        "Holländische Straße 40, 34127 Kassel",
        "Friedrich-Ebert-Straße 12, 34117 Kassel",
        "Friedrich-Ebert-Straße 3a, 34117 Kassel",
        "Ahornweg 9, 34117 Kassel",
        "somewhere without a postal code",
    ]

    assert sorted(addresses, key=address_sort_key) == [
        "Ahornweg 9, 34117 Kassel",
        "Friedrich-Ebert-Straße 3a, 34117 Kassel",
        "Friedrich-Ebert-Straße 12, 34117 Kassel",
        "Wilhelmshöher Allee 200, 34119 Kassel",
        "Holländische Straße 40, 34127 Kassel",
        "somewhere without a postal code",
    ]


def test_the_district_rules_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTREACH_MIN_LEAD_DAYS", '{"kassel": 7}')
    monkeypatch.setenv("OUTREACH_MAX_ATTEMPTS", '{"darmstadt-dieburg": 4}')

    rules = VisitsSettings().rules

    assert (rules.lead_days_for("kassel"), rules.lead_days_for("halle")) == (7, 5)
    assert (rules.max_attempts_for("darmstadt-dieburg"), rules.max_attempts_for("kassel")) == (4, 3)
    monkeypatch.setenv("OUTREACH_MAX_ATTEMPTS", '{"kassel": 0}')
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        VisitsSettings()


def test_the_events_keep_the_topics_they_were_stored_under(cipher: PersonalDataCipher) -> None:
    """The projections select the stored log by these topics, and stored events resolve to
    their classes by them: moving a class into another module must not change them."""
    visit = announce_visit(cipher)
    complete(visit)
    index = CaseVisits.start(visit.case_id)
    index.open(visit.id)

    stored = [get_topic(type(e)) for e in (*visit.collect_events(), *index.collect_events())]

    assert stored == [
        "visits.domain:Visit.Announced",
        "visits.domain:Visit.Completed",
        "visits.domain:CaseVisits.Started",
        "visits.domain:CaseVisits.VisitOpened",
    ]
    assert resolve_topic("visits.domain:Visit.Cancelled") is Visit.Cancelled
    assert resolve_topic("visits.domain:Visit") is Visit
