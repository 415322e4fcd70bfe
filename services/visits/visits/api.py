"""HTTP routes of the visits service: typed models in and out, no business logic."""

# No "from __future__ import annotations": FastAPI must resolve the route signatures that
# refer to local dependencies at runtime.

import datetime as dt
from typing import Annotated, Any, Protocol
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response, status
from psycopg.rows import DictRow
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.access_log import AccessLog, PersonalRead, personal_read
from shared.auth import Principal, Role
from shared.contracts.visits import (
    MeetingPlace,
    Need,
    NextStep,
    VisitCancelledReason,
    VisitOutcome,
    VisitPurpose,
)
from shared.dpo import opened_rows
from shared.errors import ForbiddenError, NotFoundError
from shared.eventstore import CommandContext
from shared.inputs import (
    Bool,
    ClockTime,
    Integer,
    IsoDate,
    Key,
    Note,
    StrictModel,
    Text,
    UniqueItems,
    Uuid,
)
from shared.privacy import PersonalDataCipher
from shared.read_your_writes import projected
from visits.agenda import AgendaItem, in_round_order, to_icalendar
from visits.application import PlannedCase, Visits
from visits.domain import Schedule, Visit, VisitRules
from visits.projections import BOARD_SECTIONS, PlanningBoardView, VisitRecordView

VISIT_STAFF = (Role.OUTREACH_WORKER, Role.PROVIDER_OUTREACH, Role.TEAM_LEAD)
"""``provider_outreach``: only the districts their provider's outreach contract covers
(``visits.outreach_contracts``)."""


class VisitsContext(Protocol):
    """What the routes need from the composition root."""

    @property
    def app(self) -> Visits: ...
    @property
    def cipher(self) -> PersonalDataCipher: ...
    @property
    def board(self) -> PlanningBoardView: ...
    @property
    def records(self) -> VisitRecordView: ...
    @property
    def rules(self) -> VisitRules: ...
    @property
    def access_log(self) -> AccessLog: ...


class CaseNotOnBoardError(NotFoundError):
    code = "case_not_on_board"


District = Annotated[Key, Query(examples=["kassel"])]
VisitId = Annotated[Uuid, Path()]
CaseId = Annotated[Uuid, Path()]
WorkerId = Annotated[Key, Field(examples=["ow-yilmaz"])]
ExpectedVersion = Annotated[
    Annotated[int, Integer(1, 1_000_000)] | None,
    Field(
        description="The version of the visit this command was decided on (``version`` of "
        "``GET /visits/{id}`` or of the agenda). When the visit changed since (rescheduled, "
        "cancelled, completed by another worker), the answer is 409 ``visit_changed`` with "
        "``differing`` (the fields that differ), ``seen`` and ``current`` (their values then "
        "and now) and ``current_version``, and nothing is applied. Without it the command "
        "applies to the current version.",
        examples=[2],
    ),
]


class TimeSlot(StrictModel):
    start: Annotated[ClockTime, Field(examples=["09:00"])]
    end: Annotated[ClockTime, Field(examples=["11:00"])]


class Window(StrictModel):
    start: Annotated[IsoDate, Field(examples=["2026-12-01"])]
    end: Annotated[IsoDate, Field(examples=["2026-12-03"])]


class When(StrictModel):
    """Either a date (with an optional time slot) or a window of days without exact time."""

    # The same rule as ``_date_or_window``, for the OpenAPI document: exactly one of a date
    # and a window, and a time slot only with a date.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["date"],
                    "properties": {"date": {"type": "string"}, "window": {"type": "null"}},
                },
                {
                    "required": ["window"],
                    "properties": {
                        "window": {"type": "object"},
                        "date": {"type": "null"},
                        "time_slot": {"type": "null"},
                    },
                },
            ]
        }
    )

    date: Annotated[IsoDate, Field(examples=["2026-12-01"])] | None = None
    time_slot: TimeSlot | None = None
    window: Window | None = None
    announced_on: Annotated[
        IsoDate | None, Field(description="The day the letter goes out; today if not given.")
    ] = None

    @model_validator(mode="after")
    def _date_or_window(self) -> "When":
        if (self.date is None) == (self.window is None):
            raise ValueError("give either a date or a window")
        if self.time_slot is not None and self.date is None:
            raise ValueError("a time slot goes with a date, not with a window")
        return self

    def schedule(self) -> Schedule:
        if self.window is not None:
            return Schedule.window(self.window.start, self.window.end)
        assert self.date is not None
        slot = self.time_slot
        return Schedule.on(self.date, slot.start if slot else None, slot.end if slot else None)


class AnnounceVisit(When):
    case_id: Uuid
    workers: Annotated[
        list[WorkerId],
        UniqueItems("name each outreach worker once"),
        Field(
            min_length=1,
            max_length=2,
            description="One or two outreach workers (user ids), each named once.",
            examples=[["ow-yilmaz", "ow-becker"]],
        ),
    ]
    purpose: VisitPurpose
    place: MeetingPlace = MeetingPlace.HOME
    place_description: Annotated[str, Text(300), Field(examples=["Café am Königsplatz"])] | None = (
        None
    )


class RescheduleVisit(When):
    expected_version: ExpectedVersion = None


class CancelVisit(StrictModel):
    reason: VisitCancelledReason
    expected_version: ExpectedVersion = None


class RecordOutcome(StrictModel):
    outcome: VisitOutcome
    needs: Annotated[list[Need], UniqueItems(), Field(max_length=len(Need))] = []
    note: Note | None = None
    coaching_referral_consent: Bool = False
    next_step: NextStep = NextStep.NONE
    completed_on: Annotated[
        IsoDate | None,
        Field(
            description="The day of the visit; today if not given. Not before the visit's "
            "first day (409 visit_not_begun), not in the future (422 date_in_future)."
        ),
    ] = None
    expected_version: ExpectedVersion = None


class VisitCreated(BaseModel):
    visit_id: UUID


class VisitState(BaseModel):
    visit_id: UUID
    status: str


class BoardEntry(BaseModel):
    case_id: UUID
    local_office: str
    name: str
    deadline: dt.date | None
    reported_on: dt.date
    visit_id: UUID | None
    first_day: dt.date | None
    last_day: dt.date | None
    attempts: int


class Board(BaseModel):
    district: str
    max_attempts: int
    min_lead_days: int = Field(
        description="The district's minimum of days between the letter and the visit "
        "(422 lead_time_too_short below it), to show before announcing."
    )
    counts: dict[str, int]
    sections: dict[str, list[BoardEntry]]


class ScheduleOut(BaseModel):
    first_day: dt.date
    last_day: dt.date
    time_from: str | None
    time_to: str | None


class AgendaVisit(BaseModel):
    visit_id: UUID
    version: int = Field(description="Send it as ``expected_version`` with a command.")
    case_id: UUID
    schedule: ScheduleOut
    purpose: str
    place: str
    workers: list[str]
    name: str | None
    address: str | None
    place_description: str | None


class Agenda(BaseModel):
    worker: str
    day: dt.date
    visits: list[AgendaVisit]


class VisitOut(BaseModel):
    visit_id: UUID
    version: int = Field(description="Send it as ``expected_version`` with a command.")
    case_id: UUID
    district: str
    status: str
    schedule: ScheduleOut
    purpose: str
    place: str
    workers: list[str]
    announced_on: dt.date
    cancelled_reason: str | None
    cancelled_on: dt.date | None
    outcome: str | None
    needs: list[str] | None
    note: str | None
    coaching_referral_consent: bool | None
    next_step: str | None
    completed_on: dt.date | None
    attempt_number: int | None


class History(BaseModel):
    case_id: UUID
    visits: list[VisitOut]


def _schedule(row: DictRow) -> ScheduleOut:
    return ScheduleOut(
        first_day=row["first_day"],
        last_day=row["last_day"],
        time_from=row["time_from"],
        time_to=row["time_to"],
    )


def subject_export(
    context: VisitsContext, subject: UUID, districts: frozenset[str]
) -> dict[str, Any]:
    """The visits part of a person's Art. 15 export, of ``districts``: their place on the
    planning board (with their name) and their visits (with notes and places)."""
    scope = (subject, sorted(districts))
    board = context.board.query(
        "SELECT * FROM planning_board WHERE subject_id = %s AND district = ANY(%s) "
        "ORDER BY case_id",
        scope,
    )
    rows = context.records.query(
        "SELECT * FROM visit_record WHERE subject_id = %s AND district = ANY(%s) "
        "ORDER BY announced_at, visit_id",
        scope,
    )
    return {
        "districts": sorted({row["district"] for row in (*board, *rows)}),
        "personal_data": {
            "planning_board": opened_rows(board, subject, context.cipher),
            "visits": opened_rows(rows, subject, context.cipher),
        },
        "recipients": [],
    }


def build_router(context: VisitsContext, authenticate: Any) -> APIRouter:
    router = APIRouter(tags=["visits"])
    Authenticated = Annotated[Principal, Depends(authenticate)]
    Reading = Annotated[PersonalRead, personal_read(authenticate, context.access_log)]

    def command_context(principal: Principal) -> CommandContext:
        return CommandContext(actor=principal.user, role=principal.role.value)

    def visit_in_scope(visit_id: UUID, principal: Principal) -> Visit:
        visit = context.app.get_visit(visit_id)
        principal.check_district(visit.district, "visit")
        return visit

    def version_of(row: DictRow) -> int:
        """The visit's version: the row's, or the stored visit's for a row of a view older
        than the column."""
        if row["version"] is not None:
            return int(row["version"])
        return context.app.get_visit(row["visit_id"]).version

    def may_read_note(principal: Principal, row: DictRow) -> bool:
        return principal.role is Role.TEAM_LEAD or principal.user in row["workers"]

    def visit_out(row: DictRow, principal: Principal, read: PersonalRead) -> VisitOut:
        note = (
            context.cipher.open_optional(row["note_token"])
            if may_read_note(principal, row)
            else None
        )
        read.opened(
            row["subject_id"],
            ["visit", "note"] if note is not None else ["visit"],
            district=row["district"],
            resource=f"case:{row['case_id']}",
        )
        return VisitOut(
            visit_id=row["visit_id"],
            version=version_of(row),
            case_id=row["case_id"],
            district=row["district"],
            status=row["status"],
            schedule=_schedule(row),
            purpose=row["purpose"],
            place=row["place"],
            workers=list(row["workers"]),
            announced_on=row["announced_on"],
            cancelled_reason=row["cancelled_reason"],
            cancelled_on=row["cancelled_on"],
            outcome=row["outcome"],
            needs=row["needs"],
            note=note,
            coaching_referral_consent=row["coaching_referral_consent"],
            next_step=row["next_step"],
            completed_on=row["completed_on"],
            attempt_number=row["attempt_number"],
        )

    @router.get("/board", response_model=Board)
    def planning_board(principal: Authenticated, read: Reading, district: District) -> Board:
        principal.require(*VISIT_STAFF)
        principal.check_district(district, "district")
        max_attempts = context.rules.max_attempts_for(district)
        sections = context.board.board(district, today=dt.date.today(), max_attempts=max_attempts)
        for name in BOARD_SECTIONS:
            for row in sections[name]:
                read.opened(
                    row["subject_id"],
                    ["name"],
                    district=district,
                    resource=f"case:{row['case_id']}",
                )
        entries = {
            name: [
                BoardEntry(**{**row, "name": context.cipher.open(row["name_token"])})
                for row in sections[name]
            ]
            for name in BOARD_SECTIONS
        }
        return Board(
            district=district,
            max_attempts=max_attempts,
            min_lead_days=context.rules.lead_days_for(district),
            counts={name: len(rows) for name, rows in entries.items()},
            sections=entries,
        )

    @router.post("/visits", status_code=status.HTTP_201_CREATED, response_model=VisitCreated)
    def announce_visit(body: AnnounceVisit, principal: Authenticated) -> VisitCreated:
        principal.require(*VISIT_STAFF)
        row = context.board.case(body.case_id)
        if row is None or not principal.may_see(row["district"]):
            raise CaseNotOnBoardError(f"case {body.case_id} is not on a planning board of yours")
        case = PlannedCase(
            case_id=row["case_id"],
            subject_id=row["subject_id"],
            district=row["district"],
            name=row["name_token"],
            address=row["address_token"],
        )
        visit_id = context.app.announce(
            case=case,
            workers=body.workers,
            schedule=body.schedule(),
            purpose=body.purpose,
            place=body.place,
            place_description=body.place_description,
            announced_on=body.announced_on,
            ctx=command_context(principal),
        )
        return VisitCreated(visit_id=visit_id)

    @router.post("/visits/{visit_id}/reschedule", response_model=VisitState)
    def reschedule_visit(
        visit_id: VisitId, body: RescheduleVisit, principal: Authenticated
    ) -> VisitState:
        principal.require(*VISIT_STAFF)
        visit_in_scope(visit_id, principal)
        visit = context.app.reschedule(
            visit_id,
            schedule=body.schedule(),
            announced_on=body.announced_on,
            ctx=command_context(principal),
            expected_version=body.expected_version,
        )
        return VisitState(visit_id=visit.id, status=visit.status.value)

    @router.post("/visits/{visit_id}/cancel", response_model=VisitState)
    def cancel_visit(visit_id: VisitId, body: CancelVisit, principal: Authenticated) -> VisitState:
        principal.require(*VISIT_STAFF)
        visit_in_scope(visit_id, principal)
        visit = context.app.cancel(
            visit_id,
            reason=body.reason,
            ctx=command_context(principal),
            expected_version=body.expected_version,
        )
        return VisitState(visit_id=visit.id, status=visit.status.value)

    @router.post("/visits/{visit_id}/outcome", response_model=VisitState)
    def record_outcome(
        visit_id: VisitId, body: RecordOutcome, principal: Authenticated
    ) -> VisitState:
        principal.require(*VISIT_STAFF)
        visit_in_scope(visit_id, principal)
        visit = context.app.complete(
            visit_id,
            outcome=body.outcome,
            needs=body.needs,
            note=body.note,
            coaching_referral_consent=body.coaching_referral_consent,
            next_step=body.next_step,
            completed_on=body.completed_on,
            is_team_lead=principal.role is Role.TEAM_LEAD,
            ctx=command_context(principal),
            expected_version=body.expected_version,
        )
        return VisitState(visit_id=visit.id, status=visit.status.value)

    @router.get("/visits/{visit_id}", response_model=VisitOut)
    def visit_detail(visit_id: VisitId, principal: Authenticated, read: Reading) -> VisitOut:
        principal.require(*VISIT_STAFF)
        row = projected(
            lambda: context.records.visit(visit_id), lambda: context.app.get_visit(visit_id)
        )
        if row is None or not principal.may_see(row["district"]):
            raise NotFoundError("visit not found")
        return visit_out(row, principal, read)

    @router.get("/cases/{case_id}/visits", response_model=History)
    def visit_history(case_id: CaseId, principal: Authenticated, read: Reading) -> History:
        principal.require(*VISIT_STAFF, Role.CASE_MANAGER)
        rows = context.records.history(case_id)
        if any(not principal.may_see(row["district"]) for row in rows):
            raise NotFoundError("case not found")
        return History(case_id=case_id, visits=[visit_out(row, principal, read) for row in rows])

    def agenda_items(
        principal: Principal, read: PersonalRead, worker: str | None, day: dt.date
    ) -> list[AgendaItem]:
        """The day's visits; name, address and place only of the visits the reader makes
        (the address of the others is opened for the round order, never shown)."""
        principal.require(*VISIT_STAFF)
        who = worker or principal.user
        if who != principal.user and principal.role is not Role.TEAM_LEAD:
            raise ForbiddenError("an outreach worker sees their own agenda")
        rows = context.records.agenda(who, day, sorted(principal.districts))
        # The persons' keys in one query; their names and places are under the same keys.
        addresses = context.cipher.open_all(row["address_token"] for row in rows)
        items = []
        for row, address in zip(rows, addresses, strict=True):
            assigned = principal.user in row["workers"]
            if assigned:
                read.opened(
                    row["subject_id"],
                    ["name", "address", "place_description", "visit"],
                    district=row["district"],
                    resource=f"case:{row['case_id']}",
                )
            items.append(
                AgendaItem(
                    visit_id=row["visit_id"],
                    version=version_of(row),
                    case_id=row["case_id"],
                    first_day=row["first_day"],
                    last_day=row["last_day"],
                    time_from=dt.time.fromisoformat(row["time_from"]) if row["time_from"] else None,
                    time_to=dt.time.fromisoformat(row["time_to"]) if row["time_to"] else None,
                    purpose=row["purpose"],
                    place=row["place"],
                    workers=tuple(row["workers"]),
                    sort_address=address,
                    name=context.cipher.open(row["name_token"]) if assigned else None,
                    address=address if assigned else None,
                    place_description=context.cipher.open_optional(row["place_description_token"])
                    if assigned
                    else None,
                )
            )
        read.flush()  # here, in the route's thread: the day's entries in one insert
        return in_round_order(items)

    @router.get("/agenda", response_model=Agenda)
    def agenda(
        principal: Authenticated,
        read: Reading,
        day: Annotated[IsoDate, Query(examples=["2026-12-01"])],
        worker: Annotated[Key | None, Query(description="Default: the reader.")] = None,
    ) -> Agenda:
        items = agenda_items(principal, read, worker, day)
        return Agenda(
            worker=worker or principal.user,
            day=day,
            visits=[
                AgendaVisit(
                    visit_id=i.visit_id,
                    version=i.version,
                    case_id=i.case_id,
                    schedule=ScheduleOut(
                        first_day=i.first_day,
                        last_day=i.last_day,
                        time_from=i.time_from.isoformat("minutes") if i.time_from else None,
                        time_to=i.time_to.isoformat("minutes") if i.time_to else None,
                    ),
                    purpose=i.purpose,
                    place=i.place,
                    workers=list(i.workers),
                    name=i.name,
                    address=i.address,
                    place_description=i.place_description,
                )
                for i in items
            ],
        )

    @router.get(
        "/agenda.ics",
        response_class=Response,
        responses={200: {"content": {"text/calendar": {}}}},
    )
    def agenda_calendar(
        principal: Authenticated,
        read: Reading,
        day: Annotated[IsoDate, Query(examples=["2026-12-01"])],
        worker: Annotated[Key | None, Query(description="Default: the reader.")] = None,
    ) -> Response:
        items = agenda_items(principal, read, worker, day)
        body = to_icalendar(day, items, now=dt.datetime.now(dt.UTC))
        return Response(
            body,
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="agenda-{day}.ics"'},
        )

    return router
