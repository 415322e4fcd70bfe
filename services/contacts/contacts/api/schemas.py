"""The request and response models of the contacts API: the cases (staff), the data
protection officer's legal holds, erasures and feed registrations, the outreach figures."""

# No "from __future__ import annotations": FastAPI and pydantic resolve these annotations.

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contacts.feeds.filtering import SUBSCRIBER_NAME
from shared.contracts.contacts import CaseClosedReason, ContactChannel, ContactLostReason
from shared.contracts.erasures import ErasureGround
from shared.http.bodies import StrictModel
from shared.http.inputs import Integer, IsoDate, Key, Line, Text, Uuid
from shared.privacy import DataCategory

CUSTOMER_NUMBER = r"^[0-9]{3}[A-Z][0-9]{6}$"
IMPORT_MAX_ROWS = 5000

Address = Annotated[str, Text(300)]
Phone = Annotated[str, Text(50)]
District = Annotated[Key, Query(examples=["kassel"])]
CaseId = Annotated[Uuid, Path()]


class PersonIn(StrictModel):
    customer_number: Annotated[
        str,
        Text(10, form=CUSTOMER_NUMBER, form_message="must be a customer number like 123D456789"),
        Field(examples=["123D456789"]),
    ]
    name: Annotated[Line, Field(examples=["Erika Mustermann"])]
    address: Annotated[Address, Field(examples=["Wilhelmshöher Allee 1, 34117 Kassel"])]
    phone: Annotated[Phone, Field(examples=["0561 123456"])] | None = None
    date_of_birth: Annotated[IsoDate, Field(examples=["1990-04-01"])] | None = None


class EvidenceIn(StrictModel):
    unanswered_letters: Annotated[int, Integer(0, 100)] = 0
    missed_appointments: Annotated[int, Integer(0, 100)] = 0
    last_contact_on: IsoDate | None = None


class ReportContactLost(StrictModel):
    district: Annotated[Key, Field(examples=["kassel"])]
    local_office: Annotated[str, Text(100), Field(examples=["mitte"])]
    person: PersonIn
    reason: ContactLostReason
    evidence: EvidenceIn = EvidenceIn()
    deadline: Annotated[
        IsoDate | None,
        Field(
            description="The date by which something must be decided, e.g. a pending "
            "benefit-reduction decision. It may lie in the past (an overdue decision, a case "
            "taken over late): the case is accepted and answered with ``deadline_passed`` "
            "true, and the queue shows it first when sorted by deadline."
        ),
    ] = None
    case_manager: Annotated[
        Key | None,
        Field(description="Responsible case manager; defaults to the reporting user."),
    ] = None


class ImportCases(StrictModel):
    cases: list[ReportContactLost] = Field(min_length=1, max_length=IMPORT_MAX_ROWS)


class RowError(BaseModel):
    code: str
    detail: str


class ImportRowResult(BaseModel):
    row: int = Field(description="Position of the row in the request (from 0).")
    case_id: UUID | None = None
    error: RowError | None = None


class ImportReport(BaseModel):
    imported: int
    rejected: int
    results: list[ImportRowResult]


class RecordContactRestored(StrictModel):
    channel: ContactChannel
    restored_on: IsoDate


class UpdateContactDetails(StrictModel):
    """At least one of the contact details, each a new value (``null`` changes nothing)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "string"}}}
                for name in ("name", "address", "phone")
            ]
        }
    )

    name: Line | None = None
    address: Address | None = None
    phone: Phone | None = None

    @model_validator(mode="after")
    def _something_to_update(self) -> "UpdateContactDetails":
        if self.name is None and self.address is None and self.phone is None:
            raise ValueError("give at least one of name, address and phone")
        return self


class CloseCase(StrictModel):
    reason: CaseClosedReason


class BreakGlass(StrictModel):
    reason: Annotated[
        str,
        Text(500, min_length=10),
        Field(
            description="Why this user must open a case of another district (logged, shown "
            "to the data protection officer).",
            examples=["Person moved to Kassel on 1 March; hand-over call with the case manager"],
        ),
    ]


class BreakGlassGrant(BaseModel):
    grant_id: int
    case_id: UUID
    district: str
    reason: str
    granted_at: datetime
    expires_at: datetime


class CaseCreated(BaseModel):
    case_id: UUID
    deadline_passed: bool = Field(
        description="The case's deadline lies before today: accepted, and to be acted on first."
    )


class CaseState(BaseModel):
    case_id: UUID
    status: str


class QueueEntry(BaseModel):
    case_id: UUID
    local_office: str
    status: str
    reason: str
    deadline: date | None
    reported_on: date
    last_contact_on: date | None
    unanswered_letters: int
    missed_appointments: int
    name: str
    deadline_passed: bool


class Queue(BaseModel):
    district: str
    counts: dict[str, int]
    cases: list[QueueEntry]


class TimelineEntry(BaseModel):
    version: int
    what: str
    who: str
    role: str
    when: datetime
    details: dict[str, Any]


class PersonOut(BaseModel):
    customer_number: str
    name: str
    address: str
    phone: str | None
    date_of_birth: str | None


class CaseDetail(BaseModel):
    case_id: UUID
    subject: UUID
    district: str
    local_office: str
    status: str
    reason: str
    evidence: dict[str, Any]
    deadline: date | None
    deadline_passed: bool
    case_manager: str
    reported_on: date
    closed_reason: str | None
    person: PersonOut
    timeline: list[TimelineEntry]


# --- data protection -----------------------------------------------------------------------

Reason = Annotated[
    str,
    Text(300, min_length=3),
    Field(
        description="Why; it stays in the audit trail after the erasure, so without personal "
        "data of the person (e.g. a file reference).",
        examples=["Antrag nach Art. 17 DSGVO, Az. DSB-2026-014"],
    ),
]
Subject = Annotated[Uuid, Field(description="The person's pseudonym (``subject`` of the case).")]
SubjectInPath = Annotated[Uuid, Path(description="The person's pseudonym.")]
ErasureId = Annotated[Uuid, Path()]


class PlaceLegalHold(StrictModel):
    subject: Subject
    reason: Reason


class LiftLegalHold(StrictModel):
    reason: Reason


class RequestErasure(StrictModel):
    subject: Subject
    ground: ErasureGround = ErasureGround.REQUESTED_BY_PERSON
    reason: Reason


class RequestCategoryErasure(StrictModel):
    subject: Subject
    category: DataCategory = Field(
        description="The data category whose key is destroyed; ``record`` only goes with "
        "the person (``POST /dpo/erasures``).",
        examples=["visit_note"],
    )
    ground: ErasureGround = ErasureGround.RETENTION_PERIOD_ENDED
    reason: Reason


class LegalHoldOut(BaseModel):
    subject: UUID
    active: bool
    reason: str


class Confirmation(BaseModel):
    service: str
    deployment: str
    confirmed_at: datetime


class ErasureCertificate(BaseModel):
    erasure_id: UUID
    subject: UUID
    district: str
    ground: str
    reason: str
    requested_by: str
    requested_at: datetime
    key_destroyed_at: datetime | None
    confirmations: list[Confirmation]
    pending: list[str] = Field(description="Services that have not confirmed yet.")
    complete: bool


class CategoryErasureOut(BaseModel):
    erasure_id: UUID
    subject: UUID
    category: str
    district: str
    ground: str
    reason: str
    requested_by: str
    key_destroyed_at: datetime | None = Field(
        description="When the category's key was destroyed (the last time)."
    )


# --- feeds -------------------------------------------------------------------------------


class RegisterSubscriber(StrictModel):
    name: Annotated[
        str,
        Text(40, form=SUBSCRIBER_NAME, form_message="must be 2 to 40 of a-z, 0-9 and -"),
        Field(examples=["youth-office-kassel"]),
    ]
    purpose: Annotated[
        str,
        Text(500, min_length=3),
        Field(
            examples=["Planning of youth-office capacity per district (§ 16k SGB II)"],
        ),
    ]
    allow: dict[Key, Annotated[list[Key], Field(max_length=100)]] = Field(
        min_length=1,
        max_length=50,
        description="Event type -> payload fields (dotted for nested ones). Sealed personal "
        "fields are refused.",
        examples=[{"ContactLost": ["reason", "evidence.missed_appointments", "deadline"]}],
    )


class Registration(BaseModel):
    name: str
    topic: str
    purpose: str
    allow: dict[str, list[str]]
    districts: list[str] = Field(description="Whose events it gets.", examples=[["kassel"]])
    registered_by: str
    registered_at: datetime


# --- the outreach figures ------------------------------------------------------------------

Cell = Annotated[
    int | Literal["<5", "x"],
    Field(
        description="A count; ``<5``: 1 to 4 (not shown); ``x``: hidden so that no small "
        "cell can be derived from the others (at least 5).",
        examples=[12, "<5", "x"],
    ),
]


class FiguresRow(BaseModel):
    """The figures of one district in one month."""

    district: str = Field(examples=["kassel"])
    month: str = Field(description="YYYY-MM", examples=["2026-11"])
    figures: dict[str, Cell] = Field(
        description="Every counted figure by name (``contacts_lost``, "
        "``contacts_lost.<reason>``, ``visits_announced``, ``visits_made``, "
        "``visits_reached``, ``contact_restored``, ``contact_restored.<channel>``, "
        "``coaching_referrals_with_consent``, ``coaches_assigned``, ``coachings_extended``, "
        "``coachings_ended``, ``coachings_ended.<reason>``, ``programme_enrolments``, "
        "``programme_completions``).",
        examples=[{"contacts_lost": 12, "contacts_lost.mail_returned": "<5"}],
    )
    reach_rate: float | None = Field(
        description="visits_reached / visits_made (null: not published).", examples=[0.62]
    )
    median_days_to_restore: float | None = Field(
        description="Median days from the report of the lost contact to its restoration, of "
        "the contacts restored in the month (null: fewer than 5 known).",
        examples=[21.5],
    )


class OutreachFigures(BaseModel):
    """The outreach figures per district and month: counts only, small cells suppressed."""

    first_month: str = Field(examples=["2026-01"])
    last_month: str = Field(examples=["2026-12"])
    figures: list[str] = Field(description="The figures of every row, in order.")
    rows: list[FiguresRow]


class FiguresRead(BaseModel):
    """One read of the outreach figures: who, when, which districts and months, which form."""

    at: datetime
    user: str
    role: str
    districts: list[str] = Field(description="The districts read, those of the officer.")
    first_month: str = Field(examples=["2026-01"])
    last_month: str = Field(examples=["2026-12"])
    form: Literal["json", "csv"]


class FiguresReads(BaseModel):
    districts: list[str] = Field(description="The officer's districts.")
    reads: list[FiguresRead]
