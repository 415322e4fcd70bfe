"""The routes of the staff: reporting and importing cases, the lost-contact queue, a case's
detail (and a break-glass grant for another district's case), restoring the contact,
updating the contact details, closing a case."""

# No "from __future__ import annotations": FastAPI resolves the route signatures.

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from contacts.api import presenters
from contacts.api.deps import (
    CaseReading,
    CaseStaff,
    ContactsDep,
    Reporter,
    State,
    case_in_scope,
)
from contacts.api.schemas import (
    BreakGlass,
    BreakGlassGrant,
    CaseCreated,
    CaseDetail,
    CaseId,
    CaseState,
    CloseCase,
    District,
    ImportCases,
    ImportReport,
    Queue,
    RecordContactRestored,
    ReportContactLost,
    UpdateContactDetails,
)
from contacts.application import CaseImport, PersonDetails
from contacts.domain import deadline_passed
from shared.errors import ConflictError, NotFoundError
from shared.http.auth import Principal
from shared.http.inputs import QueryInt
from shared.http.purpose import Purpose
from shared.http.read_your_writes import projected

router = APIRouter(prefix="/cases", tags=["cases"])


class BreakGlassNotNeededError(ConflictError):
    code = "break_glass_not_needed"


def case_import(row: ReportContactLost, principal: Principal) -> CaseImport:
    """The facts of a reported case (its case manager: the reporting user by default)."""
    return CaseImport(
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


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseCreated)
def report_contact_lost(
    contacts: ContactsDep, body: ReportContactLost, principal: Reporter
) -> CaseCreated:
    principal.check_district(body.district, "district")
    row = case_import(body, principal)
    case_id = contacts.report_contact_lost(**vars(row))
    return CaseCreated(
        case_id=case_id, deadline_passed=deadline_passed(body.deadline, date.today())
    )


@router.post("/import", response_model=ImportReport)
def import_cases(contacts: ContactsDep, body: ImportCases, principal: Reporter) -> ImportReport:
    """Take over existing cases (e.g. from a previous system) in one request.

    Every row is checked like a single report; a rejected row (an open case exists, the
    person appears twice in the import, a rule of the case) is answered with its error and
    changes nothing, the others are imported.
    """
    for district in {row.district for row in body.cases}:
        principal.check_district(district, "district")
    rows = [case_import(row, principal) for row in body.cases]
    return presenters.import_report(contacts.import_cases(rows))


@router.get("", response_model=Queue)
def lost_contact_queue(
    state: State,
    read: CaseReading,
    district: District,
    sort: Literal["deadline", "age"] = "deadline",
    status_filter: Annotated[
        Literal["contact_lost", "contact_restored"] | None, Query(alias="status")
    ] = None,
    limit: Annotated[int, QueryInt(1, 500)] = 50,
    offset: Annotated[int, QueryInt(0, 1_000_000)] = 0,
) -> Queue:
    read.principal.check_district(district, "district")
    rows = state.queue.queue(district, sort=sort, status=status_filter, limit=limit, offset=offset)
    return presenters.queue(state, district, rows, read)


# Only a UUID names a case: ``GET /cases/import`` is a method the import does not
# have (405), not a case that does not exist.
@router.get("/{case_id:uuid}", response_model=CaseDetail)
def case_detail(state: State, case_id: CaseId, read: CaseReading) -> CaseDetail:
    """The case with the person's data and the timeline. Another district's case exists
    only for a user holding a break-glass grant for it (read with purpose break_glass)."""
    row = projected(lambda: state.detail.detail(case_id), lambda: state.contacts.get_case(case_id))
    if row is None:
        raise NotFoundError("case not found")
    purpose, note = None, None
    if not read.principal.may_see(row["district"]):
        grant = state.access_log.active_grant(read.principal.user, f"case:{case_id}")
        if grant is None:
            raise NotFoundError("case not found")
        purpose = Purpose.BREAK_GLASS
        note = f"grant {grant['grant_id']} ({read.stated.purpose}): {grant['reason']}"
    person = presenters.opened_person(state.cipher, row)
    read.opened(
        row["subject_id"],
        [*(k for k, v in person.items() if v is not None), "timeline"],
        district=row["district"],
        resource=f"case:{case_id}",
        purpose=purpose,
        note=note,
    )
    return presenters.case_detail(row, person, state.detail.timeline(case_id))


@router.post(
    "/{case_id}/break-glass",
    status_code=status.HTTP_201_CREATED,
    response_model=BreakGlassGrant,
)
def break_glass(
    state: State, case_id: CaseId, body: BreakGlass, principal: CaseStaff
) -> BreakGlassGrant:
    """Open a case of another district (e.g. the person moved) for a limited time.

    The grant names the user, the case and the reason; it lasts the configured minutes
    (``OUTREACH_BREAK_GLASS_SECONDS``), is kept append-only and is shown to the data
    protection officer (``GET /dpo/break-glass``). Each read under it is logged with the
    purpose ``break_glass``.
    """
    row = projected(lambda: state.detail.detail(case_id), lambda: state.contacts.get_case(case_id))
    if row is None:
        raise NotFoundError("case not found")
    if principal.may_see(row["district"]):
        raise BreakGlassNotNeededError("the case is of your district; no grant is needed")
    grant = state.access_log.grant(
        principal,
        subject=row["subject_id"],
        district=row["district"],
        resource=f"case:{case_id}",
        reason=body.reason,
        ttl=state.break_glass_ttl,
    )
    return presenters.break_glass_grant(case_id, grant)


@router.post("/{case_id}/contact-restored", response_model=CaseState)
def record_contact_restored(
    contacts: ContactsDep, case_id: CaseId, body: RecordContactRestored, principal: CaseStaff
) -> CaseState:
    case_in_scope(contacts, case_id, principal)
    case = contacts.restore_contact(case_id, channel=body.channel, restored_on=body.restored_on)
    return CaseState(case_id=case.id, status=case.status.value)


@router.patch("/{case_id}/contact-details", response_model=CaseState)
def update_contact_details(
    contacts: ContactsDep, case_id: CaseId, body: UpdateContactDetails, principal: CaseStaff
) -> CaseState:
    case_in_scope(contacts, case_id, principal)
    case = contacts.update_contact_details(
        case_id, name=body.name, address=body.address, phone=body.phone
    )
    return CaseState(case_id=case.id, status=case.status.value)


@router.post("/{case_id}/close", response_model=CaseState)
def close_case(
    contacts: ContactsDep, case_id: CaseId, body: CloseCase, principal: Reporter
) -> CaseState:
    case_in_scope(contacts, case_id, principal)
    case = contacts.close_case(case_id, reason=body.reason)
    return CaseState(case_id=case.id, status=case.status.value)
