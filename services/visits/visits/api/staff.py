"""The routes of the visits staff: outreach workers, team leads, providers' outreach workers
(and, for a person's visit history, case managers). Each route: typed input, one call of the
application or a view, the answer through the presenters."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from shared.errors import ForbiddenError, NotFoundError
from shared.http.access_log import PersonalRead
from shared.http.auth import Principal, Role
from shared.http.inputs import IsoDate, Key
from shared.http.read_your_writes import projected
from shared.privacy import PersonalDataCipher
from visits.agenda import AgendaItem, to_icalendar
from visits.api.deps import (
    BoardDep,
    CipherDep,
    HistoryReading,
    RecordsDep,
    RulesDep,
    Staff,
    StaffReading,
    VisitsDep,
)
from visits.api.presenters import agenda_out, agenda_rounds, board_out, visit_out
from visits.api.schemas import (
    Agenda,
    AnnounceVisit,
    Board,
    CancelVisit,
    CaseId,
    District,
    History,
    RecordOutcome,
    RescheduleVisit,
    VisitCreated,
    VisitId,
    VisitOut,
    VisitState,
)
from visits.application import PlannedCase, Visits
from visits.projections.records import VisitRecordView

router = APIRouter(tags=["visits"])

Day = Annotated[IsoDate, Query(examples=["2026-12-01"])]
Worker = Annotated[Key | None, Query(description="Default: the reader.")]


class CaseNotOnBoardError(NotFoundError):
    code = "case_not_on_board"


@router.get("/board", response_model=Board)
def planning_board(
    read: StaffReading, district: District, board: BoardDep, rules: RulesDep, cipher: CipherDep
) -> Board:
    read.principal.check_district(district, "district")
    max_attempts = rules.max_attempts_for(district)
    sections = board.board(district, today=dt.date.today(), max_attempts=max_attempts)
    min_lead_days = rules.lead_days_for(district)
    return board_out(sections, district, max_attempts, min_lead_days, cipher, read)


@router.post("/visits", status_code=status.HTTP_201_CREATED, response_model=VisitCreated)
def announce_visit(
    body: AnnounceVisit, principal: Staff, visits: VisitsDep, board: BoardDep
) -> VisitCreated:
    row = board.case(body.case_id)
    if row is None or not principal.may_see(row["district"]):
        raise CaseNotOnBoardError(f"case {body.case_id} is not on a planning board of yours")
    case = PlannedCase(
        case_id=row["case_id"],
        subject_id=row["subject_id"],
        district=row["district"],
        name=row["name_token"],
        address=row["address_token"],
    )
    visit_id = visits.announce(
        case=case,
        workers=body.workers,
        schedule=body.schedule(),
        purpose=body.purpose,
        place=body.place,
        place_description=body.place_description,
        announced_on=body.announced_on,
    )
    return VisitCreated(visit_id=visit_id)


@router.post("/visits/{visit_id}/reschedule", response_model=VisitState)
def reschedule_visit(
    visit_id: VisitId, body: RescheduleVisit, principal: Staff, visits: VisitsDep
) -> VisitState:
    _in_scope(visits, visit_id, principal)
    visit = visits.reschedule(
        visit_id,
        schedule=body.schedule(),
        announced_on=body.announced_on,
        expected_version=body.expected_version,
    )
    return VisitState(visit_id=visit.id, status=visit.status.value)


@router.post("/visits/{visit_id}/cancel", response_model=VisitState)
def cancel_visit(
    visit_id: VisitId, body: CancelVisit, principal: Staff, visits: VisitsDep
) -> VisitState:
    _in_scope(visits, visit_id, principal)
    visit = visits.cancel(visit_id, reason=body.reason, expected_version=body.expected_version)
    return VisitState(visit_id=visit.id, status=visit.status.value)


@router.post("/visits/{visit_id}/outcome", response_model=VisitState)
def record_outcome(
    visit_id: VisitId, body: RecordOutcome, principal: Staff, visits: VisitsDep
) -> VisitState:
    _in_scope(visits, visit_id, principal)
    visit = visits.complete(
        visit_id,
        outcome=body.outcome,
        needs=body.needs,
        note=body.note,
        coaching_referral_consent=body.coaching_referral_consent,
        next_step=body.next_step,
        completed_on=body.completed_on,
        is_team_lead=principal.role is Role.TEAM_LEAD,
        expected_version=body.expected_version,
    )
    return VisitState(visit_id=visit.id, status=visit.status.value)


@router.get("/visits/{visit_id}", response_model=VisitOut)
def visit_detail(
    visit_id: VisitId, read: StaffReading, visits: VisitsDep, records: RecordsDep, cipher: CipherDep
) -> VisitOut:
    row = projected(lambda: records.visit(visit_id), lambda: visits.get_visit(visit_id))
    if row is None or not read.principal.may_see(row["district"]):
        raise NotFoundError("visit not found")
    return visit_out(row, cipher, read, visits.version_of)


@router.get("/cases/{case_id}/visits", response_model=History)
def visit_history(
    case_id: CaseId, read: HistoryReading, visits: VisitsDep, records: RecordsDep, cipher: CipherDep
) -> History:
    rows = records.history(case_id)
    if any(not read.principal.may_see(row["district"]) for row in rows):
        raise NotFoundError("case not found")
    return History(
        case_id=case_id, visits=[visit_out(row, cipher, read, visits.version_of) for row in rows]
    )


@router.get("/agenda", response_model=Agenda)
def agenda(
    read: StaffReading,
    day: Day,
    visits: VisitsDep,
    records: RecordsDep,
    cipher: CipherDep,
    worker: Worker = None,
) -> Agenda:
    items = _agenda_of(read, worker, day, visits, records, cipher)
    return agenda_out(worker or read.principal.user, day, items)


@router.get(
    "/agenda.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
def agenda_calendar(
    read: StaffReading,
    day: Day,
    visits: VisitsDep,
    records: RecordsDep,
    cipher: CipherDep,
    worker: Worker = None,
) -> Response:
    items = _agenda_of(read, worker, day, visits, records, cipher)
    return Response(
        to_icalendar(day, items, now=dt.datetime.now(dt.UTC)),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="agenda-{day}.ics"'},
    )


def _in_scope(visits: Visits, visit_id: UUID, principal: Principal) -> None:
    """The visit exists for the principal only in their districts (404 otherwise). Called
    in the route, after its input was checked: nothing is looked up for a bad request."""
    visit = visits.get_visit(visit_id)
    principal.check_district(visit.district, "visit")


def _agenda_of(
    read: PersonalRead,
    worker: str | None,
    day: dt.date,
    visits: Visits,
    records: VisitRecordView,
    cipher: PersonalDataCipher,
) -> list[AgendaItem]:
    """A worker's visits of the day in round order; a team lead may look at anyone's."""
    principal = read.principal
    who = worker or principal.user
    if who != principal.user and principal.role is not Role.TEAM_LEAD:
        raise ForbiddenError("an outreach worker sees their own agenda")
    (round_of_day,) = agenda_rounds(read, who, day, day, visits, records, cipher) or [(day, [])]
    return list(round_of_day[1])
