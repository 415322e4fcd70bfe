"""HTTP routes of the data protection officer in contacts: legal holds and erasures.

Contacts owns the person's case, so it holds the erasure process (GDPR Art. 17): the
person's data key is destroyed (crypto-shredding), the ``SubjectErased`` tombstone goes to
every service, and the certificate lists each service's confirmation. A data category that
is erased on its own (visit notes, by the retention job) loses only its key
(``/dpo/category-erasures``), recorded here the same way.
"""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

from contacts.deps import ContactsContext, Context
from contacts.domain import CategoryErasure, Erasure, LegalHold
from shared.contracts.erasures import ErasureGround
from shared.errors import NotFoundError
from shared.eventsourcing.meta import CommandContext
from shared.http.auth import Principal, Role
from shared.http.deps import CurrentUser
from shared.http.inputs import StrictModel, Text, Uuid
from shared.privacy import DataCategory
from shared.settings import SERVICE_PORTS

CONFIRMING_SERVICES = tuple(SERVICE_PORTS)
"""The services whose confirmation completes an erasure certificate."""

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


Authenticated = CurrentUser


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


def category_erasure_out(erasure: CategoryErasure) -> CategoryErasureOut:
    return CategoryErasureOut(
        erasure_id=erasure.id,
        subject=erasure.subject_id,
        category=erasure.category,
        district=erasure.district,
        ground=erasure.ground,
        reason=erasure.reason,
        requested_by=erasure.requested_by,
        key_destroyed_at=erasure.key_destroyed_at,
    )


def certificate(erasure: Erasure) -> ErasureCertificate:
    confirmations = [
        Confirmation(service=service, deployment=deployment, confirmed_at=at)
        for deployment, (service, at) in sorted(erasure.confirmations.items())
    ]
    confirmed = {c.service for c in confirmations}
    pending = [s for s in CONFIRMING_SERVICES if s not in confirmed]
    return ErasureCertificate(
        erasure_id=erasure.id,
        subject=erasure.subject_id,
        district=erasure.district,
        ground=erasure.ground,
        reason=erasure.reason,
        requested_by=erasure.requested_by,
        requested_at=erasure.created_on,
        key_destroyed_at=erasure.key_destroyed_at,
        confirmations=confirmations,
        pending=pending,
        complete=erasure.key_destroyed_at is not None and not pending,
    )


def hold_out(hold: LegalHold) -> LegalHoldOut:
    return LegalHoldOut(subject=hold.subject_id, active=hold.active, reason=hold.reason)


router = APIRouter(prefix="/dpo", tags=["data protection"])


def officer(principal: Principal) -> CommandContext:
    principal.require(Role.DATA_PROTECTION_OFFICER)
    return CommandContext(actor=principal.user, role=principal.role.value)


def district_of(context: ContactsContext, subject: UUID, principal: Principal) -> str:
    """The district of the person's cases the officer may see (404 otherwise): an
    officer acts on the persons of their districts, and on a person with cases in
    several districts as the officer of any of them."""
    visible = [d for d in context.detail_view.districts_of(subject) if principal.may_see(d)]
    if not visible:
        raise NotFoundError("subject not found")
    return visible[0]


def check_visible(
    context: ContactsContext, subject: UUID, recorded_in: str, principal: Principal, what: str
) -> None:
    """A record about the person (an erasure, a category erasure) is the officer's when
    it was recorded for one of their districts or the person has a case in one."""
    if principal.may_see(recorded_in):
        return
    if not any(principal.may_see(d) for d in context.detail_view.districts_of(subject)):
        raise NotFoundError(f"{what} not found")


@router.post("/legal-holds", status_code=status.HTTP_201_CREATED, response_model=LegalHoldOut)
def place_legal_hold(
    context: Context, body: PlaceLegalHold, principal: Authenticated
) -> LegalHoldOut:
    """Keep the person's data: erasure (also by the retention job) answers 409
    ``legal_hold`` until the hold is lifted. 409 ``subject_erased`` for a person whose
    erasure was requested."""
    ctx = officer(principal)
    district = district_of(context, body.subject, principal)
    hold = context.app.place_legal_hold(
        body.subject, district=district, reason=body.reason, ctx=ctx
    )
    return hold_out(hold)


@router.post("/legal-holds/{subject}/lift", response_model=LegalHoldOut)
def lift_legal_hold(
    context: Context, subject: SubjectInPath, body: LiftLegalHold, principal: Authenticated
) -> LegalHoldOut:
    ctx = officer(principal)
    district = district_of(context, subject, principal)
    hold = context.app.lift_legal_hold(subject, district=district, reason=body.reason, ctx=ctx)
    return hold_out(hold)


@router.get("/legal-holds/{subject}", response_model=LegalHoldOut)
def legal_hold(context: Context, subject: SubjectInPath, principal: Authenticated) -> LegalHoldOut:
    officer(principal)
    district_of(context, subject, principal)
    hold = context.app.legal_hold(subject)
    if hold is None:
        raise NotFoundError("no legal hold was ever placed for this subject")
    return hold_out(hold)


@router.post("/erasures", status_code=status.HTTP_202_ACCEPTED, response_model=ErasureCertificate)
def request_erasure(
    context: Context, body: RequestErasure, principal: Authenticated
) -> ErasureCertificate:
    """Erase the person (crypto-shredding): their key is destroyed at once; the
    services' confirmations arrive in the certificate (``GET /dpo/erasures/{id}``).
    409 ``legal_hold`` while a legal hold is placed. Repeating it is harmless."""
    ctx = officer(principal)
    district = district_of(context, body.subject, principal)
    erasure = context.app.request_erasure(
        body.subject,
        district=district,
        ground=body.ground,
        reason=body.reason,
        destroy_key=context.keyring.destroy,
        ctx=ctx,
    )
    return certificate(erasure)


@router.post(
    "/category-erasures",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CategoryErasureOut,
)
def request_category_erasure(
    context: Context, body: RequestCategoryErasure, principal: Authenticated
) -> CategoryErasureOut:
    """Erase one data category of the person (``visit_note``) by destroying only its
    key: those fields read ``[erased]`` everywhere, the rest of the record stays. Used
    by the retention job. 409 ``legal_hold`` while a legal hold is placed, 409
    ``subject_erased`` once the person is erased, 422 ``category_not_erasable`` for
    ``record``. The services' key caches forget the key within
    ``OUTREACH_KEY_CACHE_SECONDS``; no tombstone is published."""
    ctx = officer(principal)
    district = district_of(context, body.subject, principal)
    erasure = context.app.request_category_erasure(
        body.subject,
        category=body.category.value,
        district=district,
        ground=body.ground,
        reason=body.reason,
        destroy_key=context.keyring.destroy,
        ctx=ctx,
    )
    return category_erasure_out(erasure)


@router.get("/category-erasures/{erasure_id}", response_model=CategoryErasureOut)
def category_erasure(
    context: Context, erasure_id: ErasureId, principal: Authenticated
) -> CategoryErasureOut:
    officer(principal)
    erasure = context.app.get_category_erasure(erasure_id)
    check_visible(context, erasure.subject_id, erasure.district, principal, "erasure")
    return category_erasure_out(erasure)


@router.get("/erasures/{erasure_id}", response_model=ErasureCertificate)
def erasure_certificate(
    context: Context, erasure_id: ErasureId, principal: Authenticated
) -> ErasureCertificate:
    """The erasure certificate: who asked and why, when the key was destroyed, and which
    service confirmed when that it forgot the person."""
    officer(principal)
    erasure = context.app.get_erasure(erasure_id)
    check_visible(context, erasure.subject_id, erasure.district, principal, "erasure")
    return certificate(erasure)
