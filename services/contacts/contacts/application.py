"""The contacts application: each command gets the aggregates, calls them, saves them.

The case commands are here (reporting, importing, restoring, updating, closing, and the
steps of other services noted in a case's timeline); the data protection commands (legal
holds, erasures) are its base :class:`~contacts.data_protection.DataProtection`.

Who asks is the command's context (set per request or consumed message); each command says
whose data it concerns (:func:`~shared.eventsourcing.meta.concerning`), so every event
records both in its ``meta``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError, Tracking

from contacts.data_protection import DataProtection
from contacts.domain import (
    LETTER_QUEUED,
    CaseNotFoundError,
    CaseStatus,
    DuplicateInImportError,
    OpenCaseExistsError,
    OpenCaseIndex,
    OutreachCase,
)
from shared.contracts.contacts import CaseClosedReason, ContactChannel, ContactLostReason
from shared.errors import ApplicationError
from shared.eventsourcing.application import ConcurrentChangeError, SealingApplication
from shared.eventsourcing.meta import concerning


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
    """One existing case of a bulk import, or one report: the facts of a lost contact."""

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


IMPORT_BATCH_SIZE = 500
"""Cases saved per transaction by :meth:`Contacts.import_cases` (two events each)."""

_Pending = list[tuple[int, OutreachCase, OpenCaseIndex]]
"""The new cases of an import batch: (row, case, its open-case index)."""


class Contacts(DataProtection, SealingApplication):
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
    ) -> UUID:
        row = CaseImport(
            district=district,
            local_office=local_office,
            person=person,
            reason=reason,
            unanswered_letters=unanswered_letters,
            missed_appointments=missed_appointments,
            last_contact_on=last_contact_on,
            deadline=deadline,
            case_manager=case_manager,
        )
        index_id = self._index_id(row)
        index = self.find(OpenCaseIndex, index_id)
        if index is not None:
            index.check_no_open_case()
        subject_id = self.cipher.subject_for(person.customer_number)
        case = self._new_case(row, subject_id, index_id)
        index = self._opened(index, index_id, case.id)
        try:
            self.save(case, index)
        except IntegrityError:
            current = self.find(OpenCaseIndex, index_id)
            if current is not None:
                current.check_no_open_case()
            raise ConcurrentChangeError(self.concurrent_change) from None
        return case.id

    def import_cases(
        self,
        rows: Sequence[CaseImport],
        *,
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
            results.extend(self._import_batch(batch, seen))
        return results

    def _import_batch(self, rows: Sequence[CaseImport], seen: set[UUID]) -> list[ImportResult]:
        results: list[ImportResult | None] = [None] * len(rows)
        index_ids = [self._index_id(row) for row in rows]
        for position, index_id in enumerate(index_ids):
            if index_id in seen:
                results[position] = ImportResult(
                    error=DuplicateInImportError("this person appears earlier in the import")
                )
            seen.add(index_id)
        pending = self._new_cases(rows, index_ids, results)
        try:
            self.save(*(aggregate for _, case, index in pending for aggregate in (case, index)))
        except IntegrityError:
            # Someone reported one of these persons meanwhile: save row by row instead.
            return self._save_one_by_one(results, pending)
        for position, case, _ in pending:
            results[position] = ImportResult(case_id=case.id)
        return [result or ImportResult() for result in results]

    def _new_cases(
        self,
        rows: Sequence[CaseImport],
        index_ids: list[UUID],
        results: list[ImportResult | None],
    ) -> _Pending:
        """The new cases of the rows not rejected yet; a row whose case breaks a rule gets
        its error in ``results``."""
        indexes = {
            index.id: index
            for index_id in self.existing_ids(index_ids)
            if (index := self.find(OpenCaseIndex, index_id)) is not None
        }
        accepted = [p for p, result in enumerate(results) if result is None]
        subjects = self.cipher.subjects_for([[rows[p].person.customer_number] for p in accepted])
        pending: _Pending = []
        today = self._today()
        for position, subject_id in zip(accepted, subjects, strict=True):
            index_id = index_ids[position]
            index = indexes.get(index_id)
            try:
                if index is not None:
                    index.check_no_open_case()
                case = self._new_case(rows[position], subject_id, index_id, today)
            except ApplicationError as error:
                results[position] = ImportResult(error=error)
                continue
            pending.append((position, case, self._opened(index, index_id, case.id)))
        return pending

    def _save_one_by_one(
        self, results: list[ImportResult | None], pending: _Pending
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
        self, case_id: UUID, *, channel: ContactChannel, restored_on: date
    ) -> OutreachCase:
        case = self.get_case(case_id)
        with concerning(case.subject_id, case.district):
            case.restore_contact(channel=channel, restored_on=restored_on, today=self._today())
        self.save_or_conflict(case)
        return case

    def restore_contact_after_visit(
        self,
        case_id: UUID,
        *,
        channel: ContactChannel,
        restored_on: date,
        tracking: Tracking,
    ) -> bool:
        """The effect of a consumed visit outcome, saved with the consumer's tracking record.

        A case whose contact is restored already, or that is closed, stays as it is: only the
        tracking is recorded (so the event is not applied again, and not parked either).
        """
        case = self.get_case(case_id)
        if case.status is not CaseStatus.CONTACT_LOST:
            return self.save_tracked(tracking)
        with concerning(case.subject_id, case.district):
            case.restore_contact(channel=channel, restored_on=restored_on, today=self._today())
        return self.save_tracked(tracking, case)

    def note_coaching(
        self,
        case_id: UUID,
        *,
        kind: str,
        details: dict[str, Any],
        tracking: Tracking,
    ) -> bool:
        """The effect of a consumed coaching fact (coach assigned, coaching ended): a
        ``CoachingNoted`` event of the case, saved with the consumer's tracking record."""
        case = self.get_case(case_id)
        with concerning(case.subject_id, case.district):
            case.note_coaching(kind=kind, details=details)
        return self.save_tracked(tracking, case)

    def note_visit(
        self,
        case_id: UUID,
        *,
        kind: str,
        details: dict[str, Any],
        tracking: Tracking,
    ) -> bool:
        """The effect of a consumed visit step: a ``VisitNoted`` event of the case, saved
        with the consumer's tracking record. A visit of a case this deployment does not hold
        is not its business: only the tracking is recorded."""
        case = self.find(OutreachCase, case_id)
        if case is None:
            return self.save_tracked(tracking)
        with concerning(case.subject_id, case.district):
            case.note_visit(kind=kind, details=details)
        return self.save_tracked(tracking, case)

    def note_letter(
        self,
        case_id: UUID | None,
        *,
        kind: str,
        details: dict[str, Any],
        tracking: Tracking,
    ) -> bool:
        """The effect of a consumed step of a letter to the person: a ``LetterNoted`` event
        of ``case_id``, saved with the consumer's tracking record. A step after the first
        (sent, held, given up, retried) is noted only on the case that noted the letter
        queued (the other notifications are e-mails, or another case's)."""
        case = None if case_id is None else self.find(OutreachCase, case_id)
        if case is None:
            return self.save_tracked(tracking)
        if kind != LETTER_QUEUED and str(details["notification_id"]) not in case.letters:
            return self.save_tracked(tracking)
        with concerning(case.subject_id, case.district):
            case.note_letter(kind=kind, details=details)
        return self.save_tracked(tracking, case)

    def update_contact_details(
        self,
        case_id: UUID,
        *,
        name: str | None,
        address: str | None,
        phone: str | None,
    ) -> OutreachCase:
        case = self.get_case(case_id)
        plain = {"name": name, "address": address, "phone": phone}
        changes = {k: self.cipher.seal(case.subject_id, v) for k, v in plain.items() if v}
        with concerning(case.subject_id, case.district):
            case.update_contact_details(changes=changes)
        self.save_or_conflict(case)
        return case

    def close_case(self, case_id: UUID, *, reason: CaseClosedReason) -> OutreachCase:
        case = self.get_case(case_id)
        with concerning(case.subject_id, case.district):
            case.close(reason=reason)
        index = self.find(OpenCaseIndex, case.index_id)
        if index is not None:
            index.release(case.id)
        self.save_or_conflict(case, index)
        return case

    def get_case(self, case_id: UUID) -> OutreachCase:
        return self.get(OutreachCase, case_id, CaseNotFoundError(f"case {case_id} not found"))

    def _index_id(self, row: CaseImport) -> UUID:
        """The open-case index of the row's person in its district (a blind index of the
        customer number: never the number itself)."""
        lookup = self.cipher.blind_index("open-case", row.district, row.person.customer_number)
        return OpenCaseIndex.id_for(lookup)

    @staticmethod
    def _opened(index: OpenCaseIndex | None, index_id: UUID, case_id: UUID) -> OpenCaseIndex:
        """The open-case index, now naming ``case_id`` (started with the person's first case)."""
        if index is None:
            return OpenCaseIndex(id=index_id, case_id=case_id)
        index.open(case_id)
        return index

    def _new_case(
        self,
        row: CaseImport,
        subject_id: UUID,
        index_id: UUID,
        today: date | None = None,
    ) -> OutreachCase:
        person = self._seal(subject_id, row.person)
        with concerning(subject_id, row.district):
            return OutreachCase.report(
                case_id=uuid4(),
                index_id=index_id,
                subject_id=subject_id,
                district=row.district,
                local_office=row.local_office,
                person=person,
                reason=row.reason,
                unanswered_letters=row.unanswered_letters,
                missed_appointments=row.missed_appointments,
                last_contact_on=row.last_contact_on,
                deadline=row.deadline,
                case_manager=row.case_manager,
                today=today or self._today(),
            )

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
