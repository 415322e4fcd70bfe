"""The routes of the Jobcenter's own group programmes (Kreis Borken) for its staff: a team
lead plans a programme; case managers and team leads enrol people, record attendance and
completion."""

from __future__ import annotations

from fastapi import APIRouter, status

from coaching.api.deps import (
    Context,
    Staff,
    StaffReading,
    TeamLead,
    known_case,
    programme_in_scope,
)
from coaching.api.presenters import programme_out, programme_state, roster_out
from coaching.api.schemas import (
    CaseId,
    CompleteParticipation,
    Created,
    District,
    Enrol,
    PlanProgramme,
    ProgrammeId,
    ProgrammeOut,
    ProgrammeState,
    RecordAttendance,
    Roster,
)
from shared.errors import NotFoundError
from shared.http.read_your_writes import projected

router = APIRouter(tags=["coaching"])


@router.post("/programmes", status_code=status.HTTP_201_CREATED, response_model=Created)
def plan_programme(context: Context, body: PlanProgramme, principal: TeamLead) -> Created:
    principal.check_district(body.district, "district")
    programme_id = context.app.plan_programme(
        district=body.district,
        local_office=body.local_office,
        title=body.title,
        target_group=body.target_group,
        dates=body.dates,
        capacity=body.capacity,
        open_to_neighbouring=body.open_to_neighbouring,
        mobile=body.mobile,
    )
    return Created(id=programme_id)


@router.get("/programmes", response_model=list[ProgrammeOut])
def programmes(context: Context, principal: Staff, district: District) -> list[ProgrammeOut]:
    """The district's programmes, and the neighbours' programmes open to it."""
    principal.check_district(district, "district")
    return [programme_out(row) for row in context.programmes.programmes(district)]


@router.get("/programmes/{programme_id}", response_model=Roster)
def roster(context: Context, programme_id: ProgrammeId, read: StaffReading) -> Roster:
    row = projected(
        lambda: context.programmes.programme(programme_id),
        lambda: context.app.get_programme(programme_id),
    )
    if row is None or not read.principal.may_see(row["district"]):
        raise NotFoundError("programme not found")
    return roster_out(context, row, read)


@router.post("/programmes/{programme_id}/participants", response_model=ProgrammeState)
def enrol(
    context: Context, programme_id: ProgrammeId, body: Enrol, principal: Staff
) -> ProgrammeState:
    programme_in_scope(context, programme_id, principal)
    case = known_case(context, body.case_id, principal)
    return programme_state(context.app.enrol(programme_id, case))


@router.post("/programmes/{programme_id}/attendance", response_model=ProgrammeState)
def record_attendance(
    context: Context, programme_id: ProgrammeId, body: RecordAttendance, principal: Staff
) -> ProgrammeState:
    programme_in_scope(context, programme_id, principal)
    programme = context.app.record_attendance(
        programme_id, case_id=body.case_id, session_on=body.session_on, present=body.present
    )
    return programme_state(programme)


@router.post(
    "/programmes/{programme_id}/participants/{case_id}/complete", response_model=ProgrammeState
)
def complete_participation(
    context: Context,
    programme_id: ProgrammeId,
    case_id: CaseId,
    body: CompleteParticipation,
    principal: Staff,
) -> ProgrammeState:
    programme_in_scope(context, programme_id, principal)
    programme = context.app.complete_participation(
        programme_id, case_id=case_id, completed_on=body.completed_on
    )
    return programme_state(programme)
