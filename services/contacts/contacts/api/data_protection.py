"""The routes of the data protection officer in contacts: legal holds and erasures.

Contacts owns the person's case, so it holds the erasure process (GDPR Art. 17,
:mod:`contacts.data_protection`): the person's data key is destroyed (crypto-shredding),
the ``SubjectErased`` tombstone goes to every service, and the certificate lists each
service's confirmation. A data category that is erased on its own (visit notes, by the
retention job) loses only its key (``/dpo/category-erasures``), recorded here the same way.
"""

# No "from __future__ import annotations": FastAPI resolves the route signatures.

from typing import Annotated

from fastapi import APIRouter, status

from contacts.api import presenters
from contacts.api.deps import (
    ContactsDep,
    DetailDep,
    Officer,
    ReportDep,
    State,
    check_visible,
    district_of,
)
from contacts.api.schemas import (
    CategoryErasureOut,
    ErasureCertificate,
    ErasureId,
    FiguresReads,
    LegalHoldOut,
    LiftLegalHold,
    PlaceLegalHold,
    RequestCategoryErasure,
    RequestErasure,
    SubjectInPath,
)
from shared.errors import NotFoundError
from shared.http.inputs import Key, Moment, QueryInt

router = APIRouter(prefix="/dpo", tags=["data protection"])


@router.post("/legal-holds", status_code=status.HTTP_201_CREATED, response_model=LegalHoldOut)
def place_legal_hold(
    contacts: ContactsDep, detail: DetailDep, body: PlaceLegalHold, principal: Officer
) -> LegalHoldOut:
    """Keep the person's data: erasure (also by the retention job) answers 409
    ``legal_hold`` until the hold is lifted. 409 ``subject_erased`` for a person whose
    erasure was requested."""
    district = district_of(detail, body.subject, principal)
    hold = contacts.place_legal_hold(body.subject, district=district, reason=body.reason)
    return presenters.hold_out(hold)


@router.post("/legal-holds/{subject}/lift", response_model=LegalHoldOut)
def lift_legal_hold(
    contacts: ContactsDep,
    detail: DetailDep,
    subject: SubjectInPath,
    body: LiftLegalHold,
    principal: Officer,
) -> LegalHoldOut:
    district = district_of(detail, subject, principal)
    hold = contacts.lift_legal_hold(subject, district=district, reason=body.reason)
    return presenters.hold_out(hold)


@router.get("/legal-holds/{subject}", response_model=LegalHoldOut)
def legal_hold(
    contacts: ContactsDep, detail: DetailDep, subject: SubjectInPath, principal: Officer
) -> LegalHoldOut:
    district_of(detail, subject, principal)
    hold = contacts.legal_hold(subject)
    if hold is None:
        raise NotFoundError("no legal hold was ever placed for this subject")
    return presenters.hold_out(hold)


@router.post("/erasures", status_code=status.HTTP_202_ACCEPTED, response_model=ErasureCertificate)
def request_erasure(state: State, body: RequestErasure, principal: Officer) -> ErasureCertificate:
    """Erase the person (crypto-shredding): their key is destroyed at once; the
    services' confirmations arrive in the certificate (``GET /dpo/erasures/{id}``).
    409 ``legal_hold`` while a legal hold is placed. Repeating it is harmless."""
    erasure = state.contacts.request_erasure(
        body.subject,
        district=district_of(state.detail, body.subject, principal),
        ground=body.ground,
        reason=body.reason,
        destroy_key=state.keyring.destroy,
    )
    return presenters.certificate(erasure)


@router.post(
    "/category-erasures",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CategoryErasureOut,
)
def request_category_erasure(
    state: State, body: RequestCategoryErasure, principal: Officer
) -> CategoryErasureOut:
    """Erase one data category of the person (``visit_note``) by destroying only its
    key: those fields read ``[erased]`` everywhere, the rest of the record stays. Used
    by the retention job. 409 ``legal_hold`` while a legal hold is placed, 409
    ``subject_erased`` once the person is erased, 422 ``category_not_erasable`` for
    ``record``. The services' key caches forget the key within
    ``OUTREACH_KEY_CACHE_SECONDS``; no tombstone is published."""
    erasure = state.contacts.request_category_erasure(
        body.subject,
        category=body.category.value,
        district=district_of(state.detail, body.subject, principal),
        ground=body.ground,
        reason=body.reason,
        destroy_key=state.keyring.destroy,
    )
    return presenters.category_erasure_out(erasure)


@router.get("/category-erasures/{erasure_id}", response_model=CategoryErasureOut)
def category_erasure(
    contacts: ContactsDep, detail: DetailDep, erasure_id: ErasureId, principal: Officer
) -> CategoryErasureOut:
    erasure = contacts.get_category_erasure(erasure_id)
    check_visible(detail, erasure.subject_id, erasure.district, principal, "erasure")
    return presenters.category_erasure_out(erasure)


@router.get("/erasures/{erasure_id}", response_model=ErasureCertificate)
def erasure_certificate(
    contacts: ContactsDep, detail: DetailDep, erasure_id: ErasureId, principal: Officer
) -> ErasureCertificate:
    """The erasure certificate: who asked and why, when the key was destroyed, and which
    service confirmed when that it forgot the person."""
    erasure = contacts.get_erasure(erasure_id)
    check_visible(detail, erasure.subject_id, erasure.district, principal, "erasure")
    return presenters.certificate(erasure)


@router.get("/figures-reads", response_model=FiguresReads)
def figures_reads(
    view: ReportDep,
    officer: Officer,
    user: Key | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    limit: Annotated[int, QueryInt(1, 10000)] = 1000,
) -> FiguresReads:
    """Who read the outreach figures of the officer's districts (``GET /reports/outreach``),
    when, which months and in which form, oldest first. The figures hold no person's
    data, so these reads are recorded here and not in the access log."""
    reads = view.reads(officer.districts, user=user, since=since, until=until, limit=limit)
    return presenters.figures_reads(reads, officer.districts)
