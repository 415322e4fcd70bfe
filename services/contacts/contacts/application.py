"""The contacts application: commands get, call and save; errors become API errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError, Tracking

from contacts.domain import (
    LETTER_QUEUED,
    CaseStatus,
    CategoryErasure,
    Erasure,
    LegalHold,
    NoLegalHoldError,
    OpenCaseExistsError,
    OpenCaseIndex,
    OutreachCase,
)
from shared.contracts.contacts import CaseClosedReason, ContactChannel, ContactLostReason
from shared.contracts.erasures import ErasureGround
from shared.errors import ApplicationError, ConflictError, InvalidInputError, NotFoundError
from shared.eventsourcing.application import ConcurrentChangeError, SealingApplication
from shared.eventsourcing.meta import CommandContext
from shared.privacy import SEPARATELY_ERASABLE, SubjectErasedError


class CaseNotFoundError(NotFoundError):
    code = "case_not_found"


class ErasureNotFoundError(NotFoundError):
    code = "erasure_not_found"


class CategoryNotErasableError(InvalidInputError):
    """Only some data categories are erased on their own; the record goes with the person."""

    code = "category_not_erasable"


@dataclass(frozen=True)
class PersonDetails:
    """Plaintext personal data as it arrives; sealed before it reaches any event."""

    customer_number: str
    name: str
    address: str
    phone: str | None = None
    date_of_birth: date | None = None


@dataclass(frozen=True)
class CaseImport:
    """One existing case of a bulk import (the same facts as reporting a lost contact)."""

    district: str
    local_office: str
    person: PersonDetails
    reason: ContactLostReason
    unanswered_letters: int
    missed_appointments: int
    last_contact_on: date | None
    deadline: date | None
    case_manager: str


@dataclass(frozen=True)
class ImportResult:
    """The outcome of one imported row: the new case, or why the row was rejected."""

    case_id: UUID | None = None
    error: ApplicationError | None = None


class DuplicateInImportError(ConflictError):
    code = "duplicate_in_import"


IMPORT_BATCH_SIZE = 500
"""Cases saved per transaction by :meth:`Contacts.import_cases` (two events each)."""


class Contacts(SealingApplication):
    name = "contacts"
    concurrent_change = "the case changed meanwhile; try again"

    def report_contact_lost(
        self,
        *,
        district: str,
        local_office: str,
        person: PersonDetails,
        reason: ContactLostReason,
        unanswered_letters: int,
        missed_appointments: int,
        last_contact_on: date | None,
        deadline: date | None,
        case_manager: str,
        ctx: CommandContext,
    ) -> UUID:
        lookup = self.cipher.blind_index("open-case", district, person.customer_number)
        index_id = OpenCaseIndex.id_for(lookup)
        index = self.find(OpenCaseIndex, index_id)
        if index is not None:
            index.check_no_open_case()
        subject_id = self.cipher.subject_for(person.customer_number)
        case_id = uuid4()
        meta = ctx.meta_for(subject_id, district)
        case = OutreachCase.report(
            case_id=case_id,
            index_id=index_id,
            subject_id=subject_id,
            district=district,
            local_office=local_office,
            person=self._seal(subject_id, person),
            reason=reason,
            unanswered_letters=unanswered_letters,
            missed_appointments=missed_appointments,
            last_contact_on=last_contact_on,
            deadline=deadline,
            case_manager=case_manager,
            today=self._today(),
            meta=meta,
        )
        if index is None:
            index = OpenCaseIndex(id=index_id, case_id=case_id)
        else:
            index.open(case_id)
        try:
            self.save(case, index)
        except IntegrityError:
            current = self.find(OpenCaseIndex, index_id)
            if current is not None:
                current.check_no_open_case()
            raise ConcurrentChangeError("the case changed meanwhile; try again") from None
        return case_id

    def import_cases(
        self,
        rows: Sequence[CaseImport],
        *,
        ctx: CommandContext,
        batch_size: int = IMPORT_BATCH_SIZE,
    ) -> list[ImportResult]:
        """Report many existing cases at once, with the same rules as one report.

        A row is rejected (and nothing else changes) when its person has an open case in its
        district, appears earlier in the same import, or breaks a rule of the case. Each
        batch needs one query for the open cases, one for the subjects (their keys created in
        one go) and one ``save`` of all its new aggregates.
        """
        results: list[ImportResult] = []
        seen: set[UUID] = set()
        for first in range(0, len(rows), batch_size):
            batch = rows[first : first + batch_size]
            results.extend(self._import_batch(batch, seen, ctx))
        return results

    def _import_batch(
        self, rows: Sequence[CaseImport], seen: set[UUID], ctx: CommandContext
    ) -> list[ImportResult]:
        results: list[ImportResult | None] = [None] * len(rows)
        index_ids: list[UUID] = []
        for position, row in enumerate(rows):
            lookup = self.cipher.blind_index("open-case", row.district, row.person.customer_number)
            index_id = OpenCaseIndex.id_for(lookup)
            index_ids.append(index_id)
            if index_id in seen:
                results[position] = ImportResult(
                    error=DuplicateInImportError("this person appears earlier in the import")
                )
            seen.add(index_id)
        indexes: dict[UUID, OpenCaseIndex] = {}
        for index_id in self.existing_ids([i for i in index_ids if i not in indexes]):
            index = self.find(OpenCaseIndex, index_id)
            if index is not None:
                indexes[index_id] = index
        accepted = [p for p, result in enumerate(results) if result is None]
        subjects = self.cipher.subjects_for([[rows[p].person.customer_number] for p in accepted])
        pending: list[tuple[int, OutreachCase, OpenCaseIndex]] = []
        today = self._today()
        for position, subject_id in zip(accepted, subjects, strict=True):
            row, index_id = rows[position], index_ids[position]
            try:
                index = indexes.get(index_id)
                if index is not None:
                    index.check_no_open_case()
                case = OutreachCase.report(
                    case_id=uuid4(),
                    index_id=index_id,
                    subject_id=subject_id,
                    district=row.district,
                    local_office=row.local_office,
                    person=self._seal(subject_id, row.person),
                    reason=row.reason,
                    unanswered_letters=row.unanswered_letters,
                    missed_appointments=row.missed_appointments,
                    last_contact_on=row.last_contact_on,
                    deadline=row.deadline,
                    case_manager=row.case_manager,
                    today=today,
                    meta=ctx.meta_for(subject_id, row.district),
                )
            except ApplicationError as error:
                results[position] = ImportResult(error=error)
                continue
            if index is None:
                index = OpenCaseIndex(id=index_id, case_id=case.id)
            else:
                index.open(case.id)
            pending.append((position, case, index))
        try:
            self.save(*(aggregate for _, case, index in pending for aggregate in (case, index)))
        except IntegrityError:
            # Someone reported one of these persons meanwhile: save row by row instead.
            return self._save_one_by_one(results, pending)
        for position, case, _ in pending:
            results[position] = ImportResult(case_id=case.id)
        return [result or ImportResult() for result in results]

    def _save_one_by_one(
        self,
        results: list[ImportResult | None],
        pending: list[tuple[int, OutreachCase, OpenCaseIndex]],
    ) -> list[ImportResult]:
        for position, case, index in pending:
            try:
                self.save(case, index)
                results[position] = ImportResult(case_id=case.id)
            except IntegrityError:
                error: ApplicationError = ConcurrentChangeError("the case changed meanwhile")
                current = self.find(OpenCaseIndex, index.id)
                if current is not None and current.case_id is not None:
                    error = OpenCaseExistsError(
                        "an open case exists for this customer number",
                        existing_case_id=str(current.case_id),
                    )
                results[position] = ImportResult(error=error)
        return [result or ImportResult() for result in results]

    def restore_contact(
        self, case_id: UUID, *, channel: ContactChannel, restored_on: date, ctx: CommandContext
    ) -> OutreachCase:
        case = self.get_case(case_id)
        case.restore_contact(
            channel=channel,
            restored_on=restored_on,
            today=self._today(),
            meta=ctx.meta_for(case.subject_id, case.district),
        )
        self.save_or_conflict(case)
        return case

    def restore_contact_after_visit(
        self,
        case_id: UUID,
        *,
        channel: ContactChannel,
        restored_on: date,
        tracking: Tracking,
        ctx: CommandContext,
    ) -> bool:
        """The effect of a consumed visit outcome, saved with the consumer's tracking record.

        A case whose contact is restored already, or that is closed, stays as it is: only the
        tracking is recorded (so the event is not applied again, and not parked either).
        """
        case = self.get_case(case_id)
        if case.status is not CaseStatus.CONTACT_LOST:
            return self.save_tracked(tracking)
        case.restore_contact(
            channel=channel,
            restored_on=restored_on,
            today=self._today(),
            meta=ctx.meta_for(case.subject_id, case.district),
        )
        return self.save_tracked(tracking, case)

    def note_coaching(
        self,
        case_id: UUID,
        *,
        kind: str,
        details: dict[str, Any],
        tracking: Tracking,
        ctx: CommandContext,
    ) -> bool:
        """The effect of a consumed coaching fact (coach assigned, coaching ended): a
        ``CoachingNoted`` event of the case, saved with the consumer's tracking record."""
        case = self.get_case(case_id)
        case.note_coaching(
            kind=kind, details=details, meta=ctx.meta_for(case.subject_id, case.district)
        )
        return self.save_tracked(tracking, case)

    def note_visit(
        self,
        case_id: UUID,
        *,
        kind: str,
        details: dict[str, Any],
        tracking: Tracking,
        ctx: CommandContext,
    ) -> bool:
        """The effect of a consumed visit step: a ``VisitNoted`` event of the case, saved
        with the consumer's tracking record. A visit of a case this deployment does not hold
        is not its business: only the tracking is recorded."""
        case = self.find(OutreachCase, case_id)
        if not isinstance(case, OutreachCase):
            return self.save_tracked(tracking)
        case.note_visit(
            kind=kind, details=details, meta=ctx.meta_for(case.subject_id, case.district)
        )
        return self.save_tracked(tracking, case)

    def note_letter(
        self,
        case_id: UUID | None,
        *,
        kind: str,
        details: dict[str, Any],
        tracking: Tracking,
        ctx: CommandContext,
    ) -> bool:
        """The effect of a consumed step of a letter to the person: a ``LetterNoted`` event
        of ``case_id``, saved with the consumer's tracking record. A step after the first
        (sent, held, given up, retried) is noted only on the case that noted the letter
        queued (the other notifications are e-mails, or another case's)."""
        case = None if case_id is None else self.find(OutreachCase, case_id)
        if not isinstance(case, OutreachCase):
            return self.save_tracked(tracking)
        if kind != LETTER_QUEUED and str(details["notification_id"]) not in case.letters:
            return self.save_tracked(tracking)
        case.note_letter(
            kind=kind, details=details, meta=ctx.meta_for(case.subject_id, case.district)
        )
        return self.save_tracked(tracking, case)

    def update_contact_details(
        self,
        case_id: UUID,
        *,
        name: str | None,
        address: str | None,
        phone: str | None,
        ctx: CommandContext,
    ) -> OutreachCase:
        case = self.get_case(case_id)
        plain = {"name": name, "address": address, "phone": phone}
        changes = {k: self.cipher.seal(case.subject_id, v) for k, v in plain.items() if v}
        case.update_contact_details(
            changes=changes, meta=ctx.meta_for(case.subject_id, case.district)
        )
        self.save_or_conflict(case)
        return case

    def close_case(
        self, case_id: UUID, *, reason: CaseClosedReason, ctx: CommandContext
    ) -> OutreachCase:
        case = self.get_case(case_id)
        case.close(reason=reason, meta=ctx.meta_for(case.subject_id, case.district))
        index = self.find(OpenCaseIndex, case.index_id)
        if index is not None:
            index.release(case.id)
        self.save_or_conflict(case, index)
        return case

    # --- data protection: legal holds and erasures -------------------------------------

    def place_legal_hold(
        self, subject_id: UUID, *, district: str, reason: str, ctx: CommandContext
    ) -> LegalHold:
        """Keep the person's data until the hold is lifted. Refused for a person whose
        erasure was requested: their data is (being) destroyed, a hold cannot keep it."""
        if self.erasure_of(subject_id) is not None:
            raise SubjectErasedError(
                f"subject {subject_id} has been erased; there is nothing left to hold"
            )
        meta = ctx.meta_for(subject_id, district)
        hold = self.legal_hold(subject_id)
        if hold is None:
            hold = LegalHold.place_for(subject_id=subject_id, reason=reason, meta=meta)
        else:
            hold.place(reason=reason, meta=meta)
        self.save_or_conflict(hold)
        return hold

    def lift_legal_hold(
        self, subject_id: UUID, *, district: str, reason: str, ctx: CommandContext
    ) -> LegalHold:
        hold = self.legal_hold(subject_id)
        if hold is None:
            raise NoLegalHoldError("no legal hold is placed")
        hold.lift(reason=reason, meta=ctx.meta_for(subject_id, district))
        self.save_or_conflict(hold)
        return hold

    def legal_hold(self, subject_id: UUID) -> LegalHold | None:
        hold: LegalHold | None = self.find(LegalHold, LegalHold.id_for(subject_id))
        return hold

    def request_erasure(
        self,
        subject_id: UUID,
        *,
        district: str,
        ground: ErasureGround,
        reason: str,
        destroy_key: Callable[[UUID], None],
        ctx: CommandContext,
    ) -> Erasure:
        """Erase a person by destroying their data key (crypto-shredding).

        Refused while a legal hold is placed. The request is saved before the key is
        destroyed and ``KeyDestroyed`` after it (its relay publishes the ``SubjectErased``
        tombstone): after a crash in between, requesting it again completes it.
        """
        hold = self.legal_hold(subject_id)
        if hold is not None:
            hold.check_not_active()
        meta = ctx.meta_for(subject_id, district)
        erasure = self.erasure_of(subject_id)
        if erasure is None:
            erasure = Erasure.request(
                subject_id=subject_id,
                district=district,
                ground=ground.value,
                reason=reason,
                meta=meta,
            )
            self.save_or_conflict(erasure)
        if erasure.key_destroyed_at is None:
            destroy_key(subject_id)
            erasure.record_key_destroyed(at=datetime.now(UTC), meta=meta)
            self.save_or_conflict(erasure)
        return erasure

    def request_category_erasure(
        self,
        subject_id: UUID,
        *,
        category: str,
        district: str,
        ground: ErasureGround,
        reason: str,
        destroy_key: Callable[[UUID, str], None],
        ctx: CommandContext,
    ) -> CategoryErasure:
        """Erase one data category of a person (e.g. ``visit_note``) by destroying only that
        category's data key; the person and the rest of their record stay readable.

        Refused while a legal hold is placed, and for a person who is erased already
        (nothing left to erase). Recorded like the erasure of the person: the request is
        saved before the key is destroyed and ``KeyDestroyed`` after it.
        """
        if category not in SEPARATELY_ERASABLE:
            raise CategoryNotErasableError(
                f"the data category {category!r} is not erased on its own", category=category
            )
        hold = self.legal_hold(subject_id)
        if hold is not None:
            hold.check_not_active()
        erased = self.erasure_of(subject_id)
        if erased is not None:
            raise SubjectErasedError(f"subject {subject_id} has been erased")
        meta = ctx.meta_for(subject_id, district)
        erasure: CategoryErasure | None = self.find(
            CategoryErasure, CategoryErasure.id_for(subject_id, category)
        )
        if erasure is None:
            erasure = CategoryErasure.request(
                subject_id=subject_id,
                category=category,
                district=district,
                ground=ground.value,
                reason=reason,
                meta=meta,
            )
        else:
            erasure.request_again(district=district, ground=ground.value, reason=reason, meta=meta)
        self.save_or_conflict(erasure)
        destroy_key(subject_id, category)
        erasure.record_key_destroyed(at=datetime.now(UTC), meta=meta)
        self.save_or_conflict(erasure)
        return erasure

    def get_category_erasure(self, erasure_id: UUID) -> CategoryErasure:
        erasure: CategoryErasure | None = self.find(CategoryErasure, erasure_id)
        if erasure is None:
            raise ErasureNotFoundError(f"erasure {erasure_id} not found")
        return erasure

    def erasure_of(self, subject_id: UUID) -> Erasure | None:
        erasure: Erasure | None = self.find(Erasure, Erasure.id_for(subject_id))
        return erasure

    def get_erasure(self, erasure_id: UUID) -> Erasure:
        erasure: Erasure | None = self.find(Erasure, erasure_id)
        if erasure is None:
            raise ErasureNotFoundError(f"erasure {erasure_id} not found")
        return erasure

    def record_erasure_confirmation(
        self,
        erasure_id: UUID,
        *,
        service: str,
        deployment: str,
        confirmed_at: datetime,
        tracking: Tracking,
        ctx: CommandContext,
    ) -> bool:
        """A service's ``SubjectErasureConfirmed``, in the erasure's certificate (saved with
        the consumer's tracking record). Another deployment's erasure is only tracked."""
        erasure: Erasure | None = self.find(Erasure, erasure_id)
        if erasure is None:
            return self.save_tracked(tracking)
        erasure.confirm(
            service=service,
            deployment=deployment,
            confirmed_at=confirmed_at,
            meta=ctx.meta_for(erasure.subject_id, erasure.district),
        )
        return self.save_tracked(tracking, erasure)

    def get_case(self, case_id: UUID) -> OutreachCase:
        return self.get(OutreachCase, case_id, CaseNotFoundError(f"case {case_id} not found"))

    def _seal(self, subject_id: UUID, person: PersonDetails) -> dict[str, str | None]:
        dob = person.date_of_birth.isoformat() if person.date_of_birth else None
        fields = {
            "customer_number": person.customer_number,
            "name": person.name,
            "address": person.address,
            "phone": person.phone,
            "date_of_birth": dob,
        }
        sealed = self.cipher.seal_all(subject_id, list(fields.values()))
        return dict(zip(fields, sealed, strict=True))
