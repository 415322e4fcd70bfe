"""The request and response models of the visits API, and its typed parameters."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.visits import (
    MeetingPlace,
    Need,
    NextStep,
    VisitCancelledReason,
    VisitOutcome,
    VisitPurpose,
)
from shared.http.bodies import StrictModel
from shared.http.inputs import Bool, ClockTime, Integer, IsoDate, Key, Note, Text, UniqueItems, Uuid
from visits.domain import Schedule

District = Annotated[Key, Query(examples=["kassel"])]
VisitId = Annotated[Uuid, Path()]
CaseId = Annotated[Uuid, Path()]
LinkId = Annotated[Uuid, Path()]
FeedSecret = Annotated[
    str,
    Path(
        description="The calendar link's secret, as its URL names it. Anything that is not "
        "the secret of a link that is not revoked answers 404 calendar_link_not_found.",
        # Declared a password: a bearer secret, which tools and logs should not show.
        json_schema_extra={"format": "password"},
    ),
]
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
    def _date_or_window(self) -> When:
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


class CalendarLinkCreated(BaseModel):
    link_id: UUID = Field(description="The link's id: how it is listed and revoked.")
    secret: str = Field(
        description="The link's secret, the last part of ``url`` (``/agenda/feeds/{secret}.ics``)"
        ". Shown in this answer only: never again, by no route, and stored only as its digest."
        " Whoever holds it reads the calendar; lost or leaked, revoke the link and create a new"
        " one.",
        json_schema_extra={"format": "password"},
    )
    url: str = Field(
        description="The calendar's address, to subscribe to in a calendar app (it holds the "
        "secret: shown in this answer only)."
    )
    days: int = Field(description="How many days ahead, from today, the calendar lists.")


class CalendarLink(BaseModel):
    link_id: UUID
    districts: list[str]
    created_at: dt.datetime
    last_fetched_at: dt.datetime | None


class CalendarLinks(BaseModel):
    links: list[CalendarLink]
