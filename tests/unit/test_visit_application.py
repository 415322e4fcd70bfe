"""The visits application over the library's in-memory persistence."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Tracking
from visits.application import VisitNotFoundError, Visits
from visits.domain import (
    NotAssignedToVisitError,
    Schedule,
    Visit,
    VisitAlreadyAnnouncedError,
    VisitCancelledError,
    VisitChangedError,
    VisitNotBegunError,
    VisitStatus,
)

from shared.contracts.visits import (
    MeetingPlace,
    Need,
    NextStep,
    VisitCancelledReason,
    VisitOutcome,
    VisitPurpose,
)
from shared.privacy import PersonalDataCipher

from .visit_support import (
    IN_A_WEEK,
    RULES,
    TODAY,
    announce_with_app,
    planned_case,
    worker,
)

pytestmark = pytest.mark.unit

NOTE = "Schulden bei der Stadtwerke-Zyx, Brief vom Vermieter"
CAFE = "Café Zyxwv am Königsplatz"


@pytest.fixture
def app(cipher: PersonalDataCipher) -> Visits:
    return Visits(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        cipher=cipher,
        rules=RULES,
        today=lambda: IN_A_WEEK,
    )


class Clock:
    """The application's "today": the day of the announcement, until a test moves it."""

    def __init__(self) -> None:
        self.day = TODAY

    def __call__(self) -> date:
        return self.day

    @contextmanager
    def on(self, day: date) -> Iterator[None]:
        self.day = day
        try:
            yield
        finally:
            self.day = TODAY


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def early_app(cipher: PersonalDataCipher, clock: Clock) -> Visits:
    """Announcing on the day of the announcement; ``clock.on(day)`` moves it."""
    return Visits(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        cipher=cipher,
        rules=RULES,
        today=clock,
    )


def complete(app: Visits, visit_id: UUID, outcome: VisitOutcome, **kw: Any) -> Visit:
    arguments: dict[str, Any] = {
        "outcome": outcome,
        "needs": [],
        "note": None,
        "coaching_referral_consent": False,
        "next_step": NextStep.NONE,
        "completed_on": None,
        "is_team_lead": False,
        "ctx": worker(),
    }
    arguments.update(kw)
    return app.complete(visit_id, **arguments)


def stored_bytes(app: Visits) -> bytes:
    return b"".join(
        item.state for item in app.recorder.select_notifications(start=None, limit=1000)
    )


def test_an_announcement_carries_the_sealed_letter_data_and_seals_the_meeting_place(
    early_app: Visits, cipher: PersonalDataCipher
) -> None:
    case = planned_case(cipher)
    visit_id = announce_with_app(
        early_app, case, place=MeetingPlace.NEUTRAL_PLACE, place_description=CAFE
    )

    visit = early_app.get_visit(visit_id)
    assert visit.name == case.name
    assert visit.address == case.address
    assert visit.place_description is not None
    assert cipher.open(visit.place_description) == CAFE
    assert visit.announced_on == TODAY
    assert CAFE.encode() not in stored_bytes(early_app)
    assert early_app.pending_visit_id(case.case_id) == visit_id


def test_a_case_has_one_announced_visit_at_a_time(
    early_app: Visits, cipher: PersonalDataCipher
) -> None:
    case = planned_case(cipher)
    first = announce_with_app(early_app, case)

    with pytest.raises(VisitAlreadyAnnouncedError) as raised:
        announce_with_app(early_app, case)
    assert raised.value.extra == {"pending_visit_id": str(first)}

    early_app.cancel(first, reason=VisitCancelledReason.OTHER, ctx=worker())
    second = announce_with_app(early_app, case)
    assert early_app.pending_visit_id(case.case_id) == second


def test_the_outcome_note_is_sealed_with_the_persons_visit_note_key(
    early_app: Visits, clock: Clock, cipher: PersonalDataCipher
) -> None:
    case = planned_case(cipher)
    visit_id = announce_with_app(early_app, case)

    with clock.on(IN_A_WEEK):
        visit = complete(
            early_app, visit_id, VisitOutcome.MET_AND_TALKED, note=NOTE, needs=[Need.DEBT]
        )

    assert visit.status is VisitStatus.COMPLETED
    assert early_app.get_visit(visit_id).status is VisitStatus.COMPLETED
    assert NOTE.encode() not in stored_bytes(early_app)
    note_token = f"pii:v2:{case.subject_id.hex}:visit_note:".encode()
    assert note_token in stored_bytes(early_app)
    assert early_app.pending_visit_id(case.case_id) is None


def test_only_the_assigned_workers_or_a_team_lead_record_an_outcome(
    early_app: Visits, clock: Clock, cipher: PersonalDataCipher
) -> None:
    visit_id = announce_with_app(early_app, planned_case(cipher))

    with clock.on(IN_A_WEEK):
        with pytest.raises(NotAssignedToVisitError):
            complete(early_app, visit_id, VisitOutcome.NOT_MET, ctx=worker("ow-someone-else"))
        visit = complete(
            early_app,
            visit_id,
            VisitOutcome.NOT_MET,
            ctx=worker("tl-anna", "team_lead"),
            is_team_lead=True,
        )
    assert visit.status is VisitStatus.COMPLETED


def test_an_outcome_before_the_visits_first_day_is_refused_and_changes_nothing(
    early_app: Visits, clock: Clock, cipher: PersonalDataCipher
) -> None:
    """Not met on the day of the announcement: nobody could have gone yet."""
    case = planned_case(cipher)
    visit_id = announce_with_app(early_app, case)  # a window from IN_A_WEEK

    with pytest.raises(VisitNotBegunError) as raised:
        complete(early_app, visit_id, VisitOutcome.NOT_MET)
    assert raised.value.status == 409
    assert raised.value.extra["first_day"] == IN_A_WEEK.isoformat()
    with clock.on(IN_A_WEEK + timedelta(days=1)), pytest.raises(VisitNotBegunError):
        complete(early_app, visit_id, VisitOutcome.NOT_MET, completed_on=TODAY)

    assert early_app.get_visit(visit_id).status is VisitStatus.ANNOUNCED
    assert early_app.pending_visit_id(case.case_id) == visit_id
    with clock.on(IN_A_WEEK):
        assert complete(early_app, visit_id, VisitOutcome.NOT_MET).status is (VisitStatus.COMPLETED)


def test_each_completed_visit_of_a_case_counts_as_one_more_attempt(
    early_app: Visits, clock: Clock, cipher: PersonalDataCipher
) -> None:
    case = planned_case(cipher)
    numbers = []
    for outcome in (VisitOutcome.NOT_MET, VisitOutcome.ENTRY_REFUSED, VisitOutcome.NOT_MET):
        visit_id = announce_with_app(early_app, case)
        with clock.on(IN_A_WEEK):
            complete(early_app, visit_id, outcome)
        numbers.append(_attempt_of(early_app, visit_id))
    cancelled = announce_with_app(early_app, case)
    early_app.cancel(cancelled, reason=VisitCancelledReason.OTHER, ctx=worker())  # no attempt
    last = announce_with_app(early_app, case)
    with clock.on(IN_A_WEEK):
        complete(early_app, last, VisitOutcome.MET_ELSEWHERE)

    assert [*numbers, _attempt_of(early_app, last)] == [1, 2, 3, 4]


def _attempt_of(app: Visits, visit_id: UUID) -> int:
    events = [
        app.mapper.to_domain_event(item)
        for item in app.recorder.select_notifications(start=None, limit=1000)
    ]
    completed = [
        e for e in events if isinstance(e, Visit.Completed) and e.originator_id == visit_id
    ]
    return int(completed[0].attempt_number)


def test_a_person_who_got_in_touch_has_their_announced_visit_cancelled_once(
    early_app: Visits, cipher: PersonalDataCipher
) -> None:
    case = planned_case(cipher)
    visit_id = announce_with_app(early_app, case)
    tracking = Tracking("visits-cancellations/" + str(uuid4()), 1)
    ctx = worker("system", "system")

    first = early_app.cancel_pending_visit(
        case.case_id,
        reason=VisitCancelledReason.CONTACT_RESTORED_BEFORE_VISIT,
        tracking=tracking,
        ctx=ctx,
    )
    again = early_app.cancel_pending_visit(
        case.case_id,
        reason=VisitCancelledReason.CONTACT_RESTORED_BEFORE_VISIT,
        tracking=tracking,
        ctx=ctx,
    )

    assert (first, again) == (True, False)
    visit = early_app.get_visit(visit_id)
    assert visit.status is VisitStatus.CANCELLED
    with pytest.raises(VisitCancelledError):
        complete(early_app, visit_id, VisitOutcome.MET_AND_TALKED)
    cancelled = [
        e
        for e in (
            early_app.mapper.to_domain_event(n)
            for n in early_app.recorder.select_notifications(start=None, limit=1000)
        )
        if isinstance(e, Visit.Cancelled)
    ]
    assert [c.reason for c in cancelled] == ["contact_restored_before_visit"]


def test_with_no_visit_announced_only_the_tracking_is_recorded(early_app: Visits) -> None:
    tracking = Tracking("visits-cancellations/" + str(uuid4()), 1)
    ctx = worker("system", "system")
    reason = VisitCancelledReason.CONTACT_RESTORED_BEFORE_VISIT

    assert early_app.cancel_pending_visit(uuid4(), reason=reason, tracking=tracking, ctx=ctx)
    assert not early_app.cancel_pending_visit(uuid4(), reason=reason, tracking=tracking, ctx=ctx)
    assert early_app.recorder.has_tracking_id(tracking.application_name, 1)


def test_an_unknown_visit_is_not_found(app: Visits) -> None:
    with pytest.raises(VisitNotFoundError) as raised:
        app.get_visit(uuid4())
    assert raised.value.status == 404


def test_an_outcome_decided_on_an_older_version_names_what_changed_and_changes_nothing(
    early_app: Visits, clock: Clock, cipher: PersonalDataCipher
) -> None:
    """A worker recorded the outcome offline on version 1; the team lead moved the visit
    meanwhile. The refusal names the fields that differ, with both values."""
    case = planned_case(cipher)
    visit_id = announce_with_app(early_app, case)  # a window from IN_A_WEEK, version 1
    seen = early_app.get_visit(visit_id).version
    later = IN_A_WEEK + timedelta(days=7)
    early_app.reschedule(
        visit_id, schedule=Schedule.on(later), announced_on=None, ctx=worker("tl-anna", "team_lead")
    )

    with clock.on(later), pytest.raises(VisitChangedError) as raised:
        complete(early_app, visit_id, VisitOutcome.MET_AND_TALKED, expected_version=seen)

    problem = raised.value
    assert problem.status == 409
    assert problem.code == "visit_changed"
    assert problem.extra["expected_version"] == seen
    assert problem.extra["current_version"] == seen + 1
    assert problem.extra["differing"] == ["first_day", "last_day"]
    assert problem.extra["seen"] == {
        "first_day": IN_A_WEEK.isoformat(),
        "last_day": (IN_A_WEEK + timedelta(days=2)).isoformat(),
    }
    now = later.isoformat()
    assert problem.extra["current"] == {"first_day": now, "last_day": now}
    assert early_app.get_visit(visit_id).status is VisitStatus.ANNOUNCED
    with clock.on(later):  # decided again on the current version, it is recorded
        visit = complete(
            early_app, visit_id, VisitOutcome.MET_AND_TALKED, expected_version=seen + 1
        )
    assert visit.status is VisitStatus.COMPLETED


def test_an_outcome_for_a_visit_completed_by_the_partner_names_status_and_outcome(
    early_app: Visits, clock: Clock, cipher: PersonalDataCipher
) -> None:
    visit_id = early_app.announce(
        case=planned_case(cipher),
        workers=["ow-yilmaz", "ow-becker"],
        schedule=Schedule.on(IN_A_WEEK),
        purpose=VisitPurpose.FIRST_CONTACT,
        place=MeetingPlace.HOME,
        place_description=None,
        announced_on=None,
        ctx=worker(),
    )
    with clock.on(IN_A_WEEK):
        complete(early_app, visit_id, VisitOutcome.NOT_MET, ctx=worker("ow-becker"))
        with pytest.raises(VisitChangedError) as raised:
            complete(early_app, visit_id, VisitOutcome.MET_AND_TALKED, expected_version=1)

    assert raised.value.extra["differing"] == ["status", "outcome", "completed_on", "next_step"]
    assert raised.value.extra["current"]["status"] == "completed"
    assert raised.value.extra["current"]["outcome"] == "not_met"
    assert early_app.get_visit(visit_id).outcome is VisitOutcome.NOT_MET


def test_a_cancellation_decided_on_the_current_version_applies(
    early_app: Visits, cipher: PersonalDataCipher
) -> None:
    visit_id = announce_with_app(early_app, planned_case(cipher))
    reason = VisitCancelledReason.PERSON_MOVED
    with pytest.raises(VisitChangedError):
        early_app.cancel(visit_id, reason=reason, ctx=worker(), expected_version=2)
    visit = early_app.cancel(visit_id, reason=reason, ctx=worker(), expected_version=1)
    assert visit.status is VisitStatus.CANCELLED
