"""View rows and aggregates into responses: opening sealed fields for the reader (each
opening noted in the access log), the import report, the erasure certificate."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from psycopg.rows import DictRow

from contacts.api.deps import ContactsState
from contacts.api.schemas import (
    BreakGlassGrant,
    CaseDetail,
    CategoryErasureOut,
    Confirmation,
    ErasureCertificate,
    FiguresRead,
    FiguresReads,
    ImportReport,
    ImportRowResult,
    LegalHoldOut,
    PersonOut,
    Queue,
    QueueEntry,
    Registration,
    RowError,
    TimelineEntry,
)
from contacts.application import ImportResult
from contacts.domain import CategoryErasure, Erasure, LegalHold, deadline_passed
from contacts.feeds import feed_topic
from contacts.reporting.report import month_text
from shared.http.access_log import PersonalRead
from shared.privacy import TOKEN_PREFIX, PersonalDataCipher, subject_of
from shared.runtime.service import ExportPart
from shared.settings import SERVICE_PORTS

CONFIRMING_SERVICES = tuple(SERVICE_PORTS)
"""The services whose confirmation completes an erasure certificate."""


def subject_export(state: ContactsState, subject: UUID, districts: frozenset[str]) -> ExportPart:
    """The contacts part of a person's Art. 15 export: their cases of ``districts`` with
    the personal data."""
    rows = state.detail.query(
        "SELECT * FROM case_detail WHERE subject_id = %s AND district = ANY(%s) "
        "ORDER BY reported_on, case_id",
        (subject, sorted(districts)),
    )
    cases = [
        {
            **{k: v for k, v in row.items() if k not in ("person", "subject_id")},
            "person": {k: state.cipher.open_optional(v) for k, v in row["person"].items()},
        }
        for row in rows
    ]
    return {
        "districts": sorted({row["district"] for row in rows}),
        "personal_data": {"cases": cases},
        "recipients": [],
    }


def import_report(outcomes: Sequence[ImportResult]) -> ImportReport:
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
    return ImportReport(imported=imported, rejected=len(outcomes) - imported, results=results)


def queue(
    state: ContactsState, district: str, rows: Sequence[DictRow], read: PersonalRead
) -> Queue:
    """A page of the district's queue, the names opened (their keys in one query) and each
    person's name noted as read; the district's counts."""
    names = state.cipher.open_all(row["name_token"] for row in rows)
    today = date.today()
    cases = [
        QueueEntry(**{**row, "name": name}, deadline_passed=deadline_passed(row["deadline"], today))
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
    counts = state.queue.counts(district, today)
    read.flush()  # here, in the route's thread: the page's entries in one insert
    return Queue(district=district, counts=counts, cases=cases)


def opened_person(cipher: PersonalDataCipher, row: Mapping[str, Any]) -> dict[str, str | None]:
    return {k: cipher.open_optional(v) for k, v in row["person"].items()}


def case_detail(
    row: Mapping[str, Any], person: dict[str, str | None], timeline: Sequence[DictRow]
) -> CaseDetail:
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
        timeline=[
            TimelineEntry(
                version=t["version"],
                what=t["event_type"],
                who=t["actor"],
                role=t["role"],
                when=t["occurred_at"],
                details=t["details"],
            )
            for t in timeline
        ],
    )


def break_glass_grant(case_id: UUID, grant: Mapping[str, Any]) -> BreakGlassGrant:
    return BreakGlassGrant(
        grant_id=grant["grant_id"],
        case_id=case_id,
        district=grant["district"],
        reason=grant["reason"],
        granted_at=grant["granted_at"],
        expires_at=grant["expires_at"],
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


def registration(row: Mapping[str, Any]) -> Registration:
    return Registration(topic=feed_topic(row["name"]), **row)


def figures_reads(rows: Sequence[DictRow], districts: Collection[str]) -> FiguresReads:
    """The reads of figures as the officer of ``districts`` sees them: of another
    district's figures read together with theirs, nothing."""
    mine = set(districts)
    return FiguresReads(
        districts=sorted(mine),
        reads=[
            FiguresRead(
                at=row["at"],
                user=row["user_id"],
                role=row["role"],
                districts=[d for d in row["districts"] if d in mine],
                first_month=month_text(row["first_month"]),
                last_month=month_text(row["last_month"]),
                form=row["form"],
            )
            for row in rows
        ],
    )
