"""The staff directory and the districts' letterheads, read by a district's staff. The staff
come from the identity provider when it is configured (``POST /ops/staff-sync`` runs a round at
once) and over ``PUT /staff/{user_id}`` from a district's team lead (staff without an
account); the letterheads from the team lead."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from notifications.api.deps import (
    LetterheadsDep,
    Operator,
    Staff,
    StaffDirectoryDep,
    State,
    TeamLead,
)
from notifications.api.presenters import letterhead_of, staff_out
from notifications.api.schemas import USER_ID, StaffEntryIn, StaffEntryOut, StaffSyncOut
from notifications.domain.errors import DirectorySyncOffError
from notifications.settings import Letterhead
from shared.http.inputs import Key

router = APIRouter(tags=["notifications"])


@router.put("/staff/{user_id}", response_model=StaffEntryOut, tags=["staff directory"])
def put_staff(
    staff: StaffDirectoryDep,
    user_id: Annotated[str, USER_ID],
    body: StaffEntryIn,
    principal: TeamLead,
) -> StaffEntryOut:
    """Enter or change how letters name a member of staff of the team lead's district. With
    an identity provider configured, its next round overwrites the entry of a user it knows
    (it is the source of their names); this route is for staff without an account."""
    principal.check_district(body.district, "district")
    existing = staff.staff([user_id]).get(user_id)
    if existing is not None:
        principal.check_district(existing["district"], "staff member")
    row = staff.put_staff(
        user_id,
        display_name=body.display_name,
        form_of_address=body.form_of_address.value,
        district=body.district,
        by=principal.user,
    )
    return staff_out(row)


@router.post("/ops/staff-sync", response_model=StaffSyncOut, tags=["staff directory", "ops"])
def sync_staff(state: State, principal: Operator) -> StaffSyncOut:
    """Read the staff from the identity provider now (as the background round does; an
    operator's action, apart from ``/staff/{user_id}``, whose ids it could be): who is
    written, removed, and skipped for data that does not fit, by reason. 409
    ``directory_sync_off`` where no identity provider is configured; 503
    ``directory_unavailable`` when it does not answer (the directory stays as it was)."""
    if state.staff_sync is None:
        raise DirectorySyncOffError(
            "the staff directory is kept over PUT /staff here: no identity provider is set"
        )
    result = state.staff_sync.round()
    return StaffSyncOut(
        listed=result.listed,
        written=result.written,
        removed=result.removed,
        skipped=dict(result.skipped),
        defaulted=dict(result.defaulted),
    )


@router.get("/staff", response_model=list[StaffEntryOut], tags=["staff directory"])
def staff_of_district(
    staff: StaffDirectoryDep, principal: Staff, district: Key
) -> list[StaffEntryOut]:
    principal.check_district(district, "district")
    return [staff_out(row) for row in staff.staff_of([district])]


@router.put("/letterheads/{district}", response_model=Letterhead, tags=["staff directory"])
def put_letterhead(
    staff: StaffDirectoryDep, district: Key, body: Letterhead, principal: TeamLead
) -> Letterhead:
    """Set how the district signs its letters: Jobcenter, team, address, phone line,
    e-mail, hours, data protection contact. Letters held for want of it can then be
    retried (``POST /notifications/{id}/retry``)."""
    principal.check_district(district, "district")
    staff.put_letterhead(district, body.model_dump(), by=principal.user)
    return body


@router.get("/letterheads/{district}", response_model=Letterhead, tags=["staff directory"])
def letterhead(letterheads: LetterheadsDep, district: Key, principal: Staff) -> Letterhead:
    principal.check_district(district, "district")
    return letterhead_of(letterheads, district)
