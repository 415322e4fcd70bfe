"""HTTP routes of the contacts service: typed models in and out, no business logic."""

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contacts.application import CaseImport, PersonDetails
from contacts.deps import ContactsContext, Context
from contacts.domain import deadline_passed
from shared.contracts.contacts import CaseClosedReason, ContactChannel, ContactLostReason
from shared.errors import ConflictError, NotFoundError
from shared.eventsourcing.meta import CommandContext
from shared.http.access_log import PersonalRead
from shared.http.auth import Principal, Role
from shared.http.deps import CurrentUser, reading
from shared.http.inputs import Integer, IsoDate, Key, Line, QueryInt, StrictModel, Text, Uuid
from shared.http.purpose import Purpose
from shared.http.read_your_writes import projected
from shared.privacy import TOKEN_PREFIX, subject_of
from shared.runtime.service import ExportPart

CUSTOMER_NUMBER = r"^[0-9]{3}[A-Z][0-9]{6}$"
REPORTERS = (Role.CASE_MANAGER, Role.TEAM_LEAD)
IMPORT_MAX_ROWS = 5000
CASE_STAFF = (Role.CASE_MANAGER, Role.TEAM_LEAD, Role.OUTREACH_WORKER)

Authenticated = CurrentUser
Reading = Annotated[PersonalRead, reading()]


class BreakGlassNotNeededError(ConflictError):
    code = "break_glass_not_needed"


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


def subject_export(
    context: ContactsContext, subject: UUID, districts: frozenset[str]
) -> ExportPart:
    """The contacts part of a person's Art. 15 export: their cases of ``districts`` with
    the personal data."""
    rows = context.detail_view.query(
        "SELECT * FROM case_detail WHERE subject_id = %s AND district = ANY(%s) "
        "ORDER BY reported_on, case_id",
        (subject, sorted(districts)),
    )
    cases = [
        {
            **{k: v for k, v in row.items() if k not in ("person", "subject_id")},
            "person": {k: context.cipher.open_optional(v) for k, v in row["person"].items()},
        }
        for row in rows
    ]
    return {
        "districts": sorted({row["district"] for row in rows}),
        "personal_data": {"cases": cases},
        "recipients": [],
    }


router = APIRouter(prefix="/cases", tags=["cases"])


def command_context(principal: Principal, request: Request) -> CommandContext:
    return CommandContext(actor=principal.user, role=principal.role.value)


def case_in_scope(context: ContactsContext, case_id: UUID, principal: Principal) -> None:
    case = context.app.get_case(case_id)
    principal.check_district(case.district, "case")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseCreated)
def report_contact_lost(
    context: Context, body: ReportContactLost, principal: Authenticated, request: Request
) -> CaseCreated:
    principal.require(*REPORTERS)
    principal.check_district(body.district, "district")
    person = PersonDetails(**body.person.model_dump())
    case_id = context.app.report_contact_lost(
        district=body.district,
        local_office=body.local_office,
        person=person,
        reason=body.reason,
        unanswered_letters=body.evidence.unanswered_letters,
        missed_appointments=body.evidence.missed_appointments,
        last_contact_on=body.evidence.last_contact_on,
        deadline=body.deadline,
        case_manager=body.case_manager or principal.user,
        ctx=command_context(principal, request),
    )
    return CaseCreated(
        case_id=case_id, deadline_passed=deadline_passed(body.deadline, date.today())
    )


@router.post("/import", response_model=ImportReport)
def import_cases(
    context: Context, body: ImportCases, principal: Authenticated, request: Request
) -> ImportReport:
    """Take over existing cases (e.g. from a previous system) in one request.

    Every row is checked like a single report; a rejected row (an open case exists, the
    person appears twice in the import, a rule of the case) is answered with its error and
    changes nothing, the others are imported.
    """
    principal.require(*REPORTERS)
    for district in {row.district for row in body.cases}:
        principal.check_district(district, "district")
    rows = [
        CaseImport(
            district=row.district,
            local_office=row.local_office,
            person=PersonDetails(**row.person.model_dump()),
            reason=row.reason,
            unanswered_letters=row.evidence.unanswered_letters,
            missed_appointments=row.evidence.missed_appointments,
            last_contact_on=row.evidence.last_contact_on,
            deadline=row.deadline,
            case_manager=row.case_manager or principal.user,
        )
        for row in body.cases
    ]
    outcomes = context.app.import_cases(rows, ctx=command_context(principal, request))
    results = [
        ImportRowResult(
            row=position,
            case_id=outcome.case_id,
            error=RowError(code=outcome.error.code, detail=outcome.error.detail)
            if outcome.error
            else None,
        )
        for position, outcome in enumerate(outcomes)
    ]
    imported = sum(1 for outcome in outcomes if outcome.case_id is not None)
    return ImportReport(imported=imported, rejected=len(rows) - imported, results=results)


@router.get("", response_model=Queue)
def lost_contact_queue(
    context: Context,
    principal: Authenticated,
    read: Reading,
    district: District,
    sort: Literal["deadline", "age"] = "deadline",
    status_filter: Annotated[
        Literal["contact_lost", "contact_restored"] | None, Query(alias="status")
    ] = None,
    limit: Annotated[int, QueryInt(1, 500)] = 50,
    offset: Annotated[int, QueryInt(0, 1_000_000)] = 0,
) -> Queue:
    principal.require(*CASE_STAFF)
    principal.check_district(district, "district")
    rows = context.queue_view.queue(
        district, sort=sort, status=status_filter, limit=limit, offset=offset
    )
    names = context.cipher.open_all(row["name_token"] for row in rows)  # keys: one query
    today = date.today()
    cases = [
        QueueEntry(
            **{**row, "name": name},
            deadline_passed=deadline_passed(row["deadline"], today),
        )
        for row, name in zip(rows, names, strict=True)
    ]
    for row in rows:
        if row["name_token"].startswith(TOKEN_PREFIX):  # the sealed name carries the subject
            read.opened(
                subject_of(row["name_token"]),
                ["name"],
                district=district,
                resource=f"case:{row['case_id']}",
            )
    counts = context.queue_view.counts(district, today)
    read.flush()  # here, in the route's thread: the page's entries in one insert
    return Queue(district=district, counts=counts, cases=cases)


# Only a UUID names a case: ``GET /cases/import`` is a method the import does not
# have (405), not a case that does not exist.
@router.get("/{case_id:uuid}", response_model=CaseDetail)
def case_detail(
    context: Context, case_id: CaseId, principal: Authenticated, read: Reading
) -> CaseDetail:
    """The case with the person's data and the timeline. Another district's case exists
    only for a user holding a break-glass grant for it (read with purpose break_glass)."""
    principal.require(*CASE_STAFF)
    row = projected(
        lambda: context.detail_view.detail(case_id), lambda: context.app.get_case(case_id)
    )
    if row is None:
        raise NotFoundError("case not found")
    purpose, note = None, None
    if not principal.may_see(row["district"]):
        grant = context.access_log.active_grant(principal.user, f"case:{case_id}")
        if grant is None:
            raise NotFoundError("case not found")
        purpose = Purpose.BREAK_GLASS
        note = f"grant {grant['grant_id']} ({read.stated.purpose}): {grant['reason']}"
    person = {k: context.cipher.open_optional(v) for k, v in row["person"].items()}
    read.opened(
        row["subject_id"],
        [*(k for k, v in person.items() if v is not None), "timeline"],
        district=row["district"],
        resource=f"case:{case_id}",
        purpose=purpose,
        note=note,
    )
    timeline = [
        TimelineEntry(
            version=t["version"],
            what=t["event_type"],
            who=t["actor"],
            role=t["role"],
            when=t["occurred_at"],
            details=t["details"],
        )
        for t in context.detail_view.timeline(case_id)
    ]
    return CaseDetail(
        case_id=row["case_id"],
        subject=row["subject_id"],
        district=row["district"],
        local_office=row["local_office"],
        status=row["status"],
        reason=row["reason"],
        evidence=row["evidence"],
        deadline=row["deadline"],
        deadline_passed=deadline_passed(row["deadline"], date.today()),
        case_manager=row["case_manager"],
        reported_on=row["reported_on"],
        closed_reason=row["closed_reason"],
        person=PersonOut(**person),
        timeline=timeline,
    )


@router.post(
    "/{case_id}/break-glass",
    status_code=status.HTTP_201_CREATED,
    response_model=BreakGlassGrant,
)
def break_glass(
    context: Context, case_id: CaseId, body: BreakGlass, principal: Authenticated
) -> BreakGlassGrant:
    """Open a case of another district (e.g. the person moved) for a limited time.

    The grant names the user, the case and the reason; it lasts the configured minutes
    (``OUTREACH_BREAK_GLASS_SECONDS``), is kept append-only and is shown to the data
    protection officer (``GET /dpo/break-glass``). Each read under it is logged with the
    purpose ``break_glass``.
    """
    principal.require(*CASE_STAFF)
    row = projected(
        lambda: context.detail_view.detail(case_id), lambda: context.app.get_case(case_id)
    )
    if row is None:
        raise NotFoundError("case not found")
    if principal.may_see(row["district"]):
        raise BreakGlassNotNeededError("the case is of your district; no grant is needed")
    grant = context.access_log.grant(
        principal,
        subject=row["subject_id"],
        district=row["district"],
        resource=f"case:{case_id}",
        reason=body.reason,
        ttl=context.break_glass_ttl,
    )
    return BreakGlassGrant(
        grant_id=grant["grant_id"],
        case_id=case_id,
        district=grant["district"],
        reason=grant["reason"],
        granted_at=grant["granted_at"],
        expires_at=grant["expires_at"],
    )


@router.post("/{case_id}/contact-restored", response_model=CaseState)
def record_contact_restored(
    context: Context,
    case_id: CaseId,
    body: RecordContactRestored,
    principal: Authenticated,
    request: Request,
) -> CaseState:
    principal.require(*CASE_STAFF)
    case_in_scope(context, case_id, principal)
    case = context.app.restore_contact(
        case_id,
        channel=body.channel,
        restored_on=body.restored_on,
        ctx=command_context(principal, request),
    )
    return CaseState(case_id=case.id, status=case.status.value)


@router.patch("/{case_id}/contact-details", response_model=CaseState)
def update_contact_details(
    context: Context,
    case_id: CaseId,
    body: UpdateContactDetails,
    principal: Authenticated,
    request: Request,
) -> CaseState:
    principal.require(*CASE_STAFF)
    case_in_scope(context, case_id, principal)
    case = context.app.update_contact_details(
        case_id,
        name=body.name,
        address=body.address,
        phone=body.phone,
        ctx=command_context(principal, request),
    )
    return CaseState(case_id=case.id, status=case.status.value)


@router.post("/{case_id}/close", response_model=CaseState)
def close_case(
    context: Context, case_id: CaseId, body: CloseCase, principal: Authenticated, request: Request
) -> CaseState:
    principal.require(*REPORTERS)
    case_in_scope(context, case_id, principal)
    case = context.app.close_case(
        case_id, reason=body.reason, ctx=command_context(principal, request)
    )
    return CaseState(case_id=case.id, status=case.status.value)
