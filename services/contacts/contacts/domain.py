"""The outreach case of one person: contact lost, restored, details updated, closed.

No I/O here. Personal fields arrive already sealed (tokens of the person's own key); the
case never sees plaintext. Times, ids and "today" are passed in by the application.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared.contracts.contacts import CaseClosedReason, ContactChannel, ContactLostReason
from shared.dates import check_not_in_future
from shared.errors import ConflictError, InvalidInputError

Meta = dict[str, Any]
"""Who did it and which request it belongs to (see ``shared.eventsourcing.meta.CommandContext``)."""


class CaseStatus(StrEnum):
    CONTACT_LOST = "contact_lost"
    CONTACT_RESTORED = "contact_restored"
    CLOSED = "closed"


class DateBeforeLastContactError(InvalidInputError):
    code = "date_before_last_contact"


class NothingToUpdateError(InvalidInputError):
    code = "nothing_to_update"


class CaseClosedError(ConflictError):
    code = "case_closed"


class ContactAlreadyRestoredError(ConflictError):
    code = "contact_already_restored"


class OpenCaseExistsError(ConflictError):
    code = "open_case_exists"


def deadline_passed(deadline: date | None, today: date) -> bool:
    """A deadline before today is information, not an error: a pending benefit-reduction
    decision that is overdue, or a case taken over late. The case is accepted and shown as
    such, so it is acted on first."""
    return deadline is not None and deadline < today


class OutreachCase(Aggregate):
    """One person, one period of lost contact, in one district."""

    class ContactLost(Aggregate.Created):
        index_id: UUID
        subject_id: UUID
        district: str
        local_office: str
        person: dict[str, str | None]
        reason: str
        evidence: dict[str, Any]
        deadline: date | None
        case_manager: str
        reported_on: date
        meta: Meta

    class ContactRestored(Aggregate.Event):
        channel: str
        restored_on: date
        case_manager: str
        meta: Meta

    class ContactDetailsUpdated(Aggregate.Event):
        changes: dict[str, str]
        meta: Meta

    class Closed(Aggregate.Event):
        reason: str
        meta: Meta

    class CoachingNoted(Aggregate.Event):
        """A fact from the coaching service, so the case's timeline stays a projection of
        the case's own log: a coach was assigned, or the coaching ended."""

        kind: str
        details: dict[str, Any]
        meta: Meta

    class VisitNoted(Aggregate.Event):
        """A step of a visit from the visits service, for the timeline: announced,
        rescheduled, cancelled (also automatically, when the person got in touch first),
        made."""

        kind: str
        details: dict[str, Any]
        meta: Meta

    class LetterNoted(Aggregate.Event):
        """A step of a letter to the person from the notifications service, for the
        timeline: queued, in the print batch, held (and why), given up, retried."""

        kind: str
        details: dict[str, Any]
        meta: Meta

    @classmethod
    def report(
        cls,
        *,
        case_id: UUID,
        index_id: UUID,
        subject_id: UUID,
        district: str,
        local_office: str,
        person: dict[str, str | None],
        reason: ContactLostReason,
        unanswered_letters: int,
        missed_appointments: int,
        last_contact_on: date | None,
        deadline: date | None,
        case_manager: str,
        today: date,
        meta: Meta,
    ) -> OutreachCase:
        check_not_in_future("last_contact_on", last_contact_on, today)
        if deadline is not None and last_contact_on is not None and deadline < last_contact_on:
            raise DateBeforeLastContactError(
                "deadline lies before the last contact", field="deadline"
            )
        return cls(
            id=case_id,
            index_id=index_id,
            subject_id=subject_id,
            district=district,
            local_office=local_office,
            person=person,
            reason=reason.value,
            evidence={
                "unanswered_letters": unanswered_letters,
                "missed_appointments": missed_appointments,
                "last_contact_on": last_contact_on,
            },
            deadline=deadline,
            case_manager=case_manager,
            reported_on=today,
            meta=meta,
        )

    @event(ContactLost)
    def __init__(
        self,
        *,
        id: UUID,
        index_id: UUID,
        subject_id: UUID,
        district: str,
        local_office: str,
        person: dict[str, str | None],
        reason: str,
        evidence: dict[str, Any],
        deadline: date | None,
        case_manager: str,
        reported_on: date,
        meta: Meta,
    ) -> None:
        self.index_id = index_id
        self.subject_id = subject_id
        self.district = district
        self.local_office = local_office
        self.person = dict(person)
        self.reason = ContactLostReason(reason)
        self.evidence = dict(evidence)
        self.deadline = deadline
        self.case_manager = case_manager
        self.reported_on = reported_on
        self.status = CaseStatus.CONTACT_LOST
        self.restored_channel: ContactChannel | None = None

    @property
    def is_open(self) -> bool:
        return self.status is not CaseStatus.CLOSED

    def check_is_open(self) -> None:
        if not self.is_open:
            raise CaseClosedError(f"case {self.id} is closed", case_id=str(self.id))

    def restore_contact(
        self, *, channel: ContactChannel, restored_on: date, today: date, meta: Meta
    ) -> None:
        self.check_is_open()
        if self.status is CaseStatus.CONTACT_RESTORED:
            raise ContactAlreadyRestoredError(
                f"contact of case {self.id} is restored already", case_id=str(self.id)
            )
        check_not_in_future("restored_on", restored_on, today)
        last_contact = self.evidence.get("last_contact_on")
        if last_contact is not None and restored_on < last_contact:
            raise DateBeforeLastContactError(
                "restored_on lies before the last contact", field="restored_on"
            )
        self._contact_restored(
            channel=channel.value,
            restored_on=restored_on,
            case_manager=self.case_manager,
            meta=meta,
        )

    @event(ContactRestored)
    def _contact_restored(
        self, *, channel: str, restored_on: date, case_manager: str, meta: Meta
    ) -> None:
        self.status = CaseStatus.CONTACT_RESTORED
        self.restored_channel = ContactChannel(channel)

    def update_contact_details(self, *, changes: dict[str, str], meta: Meta) -> None:
        self.check_is_open()
        if not changes:
            raise NothingToUpdateError("no contact detail was given")
        self._contact_details_updated(changes=changes, meta=meta)

    @event(ContactDetailsUpdated)
    def _contact_details_updated(self, *, changes: dict[str, str], meta: Meta) -> None:
        self.person.update(changes)

    def close(self, *, reason: CaseClosedReason, meta: Meta) -> None:
        self.check_is_open()
        self._closed(reason=reason.value, meta=meta)

    @event(Closed)
    def _closed(self, *, reason: str, meta: Meta) -> None:
        self.status = CaseStatus.CLOSED

    def note_coaching(self, *, kind: str, details: dict[str, Any], meta: Meta) -> None:
        """Record a coaching fact in the timeline. Also on a closed case (a coaching can
        outlast the outreach case); it never changes the case's status, and no coaching
        outcome (declining included) marks the person."""
        self._coaching_noted(kind=kind, details=details, meta=meta)

    @event(CoachingNoted)
    def _coaching_noted(self, *, kind: str, details: dict[str, Any], meta: Meta) -> None:
        pass

    def note_visit(self, *, kind: str, details: dict[str, Any], meta: Meta) -> None:
        """Record a step of a visit in the timeline. Also on a closed case; it never changes
        the case's status (a visit that reached the person restores the contact through
        ``restore_contact``, one that did not marks nothing)."""
        self._visit_noted(kind=kind, details=details, meta=meta)

    @event(VisitNoted)
    def _visit_noted(self, *, kind: str, details: dict[str, Any], meta: Meta) -> None:
        pass

    def note_letter(self, *, kind: str, details: dict[str, Any], meta: Meta) -> None:
        """Record a step of a letter to the person in the timeline (never its content)."""
        self._letter_noted(kind=kind, details=details, meta=meta)

    @event(LetterNoted)
    def _letter_noted(self, *, kind: str, details: dict[str, Any], meta: Meta) -> None:
        if kind == LETTER_QUEUED:
            self.letters = self.letters | {str(details["notification_id"])}

    @property
    def letters(self) -> frozenset[str]:
        """The notifications that are letters to the person about this case."""
        return frozenset(self.__dict__.get("_letters", frozenset()))

    @letters.setter
    def letters(self, value: frozenset[str]) -> None:
        self.__dict__["_letters"] = frozenset(value)


LETTER_QUEUED = "letter_queued"
"""The kind of the first step of a letter: from then on the case knows the letter's id."""

OPEN_CASE_INDEX_NAMESPACE = UUID("2d7c1f0e-8b4a-4f3e-9a6d-5c2b1e0f9a8d")


class OpenCaseIndex(Aggregate):
    """Which case is open for one customer number in one district.

    Its id is derived from a blind index of the customer number (never the number itself),
    so reporting the same person twice collides in the event store, atomically.
    """

    class Opened(Aggregate.Created):
        case_id: UUID

    class OpenedAgain(Aggregate.Event):
        case_id: UUID

    class Released(Aggregate.Event):
        case_id: UUID

    @staticmethod
    def id_for(lookup: bytes) -> UUID:
        return uuid5(OPEN_CASE_INDEX_NAMESPACE, lookup.hex())

    @event(Opened)
    def __init__(self, *, id: UUID, case_id: UUID) -> None:
        self.case_id: UUID | None = case_id

    def check_no_open_case(self) -> None:
        if self.case_id is not None:
            raise OpenCaseExistsError(
                f"an open case exists for this customer number: {self.case_id}",
                existing_case_id=str(self.case_id),
            )

    def open(self, case_id: UUID) -> None:
        self.check_no_open_case()
        self._opened_again(case_id=case_id)

    @event(OpenedAgain)
    def _opened_again(self, *, case_id: UUID) -> None:
        self.case_id = case_id

    def release(self, case_id: UUID) -> None:
        if self.case_id == case_id:
            self._released(case_id=case_id)

    @event(Released)
    def _released(self, *, case_id: UUID) -> None:
        self.case_id = None


# --- data protection: legal holds and erasures (GDPR Art. 17) ------------------------------

DATA_PROTECTION_NAMESPACE = UUID("0e6f3c2a-9d41-4b7e-8f25-6a1d3c9b7e04")


class LegalHoldError(ConflictError):
    """The person's data must be kept (a court case, an objection, an audit)."""

    code = "legal_hold"


class LegalHoldAlreadyPlacedError(ConflictError):
    code = "legal_hold_already_placed"


class NoLegalHoldError(ConflictError):
    code = "no_legal_hold"


class LegalHold(Aggregate):
    """Keeps one person's data from being erased, until the data protection officer lifts it.

    One per person (its id derives from the pseudonym); placed and lifted with a reason. The
    reasons stay in the audit trail after an erasure: they must not hold personal data.
    """

    class Placed(Aggregate.Created):
        subject_id: UUID
        reason: str
        meta: Meta

    class PlacedAgain(Aggregate.Event):
        reason: str
        meta: Meta

    class Lifted(Aggregate.Event):
        reason: str
        meta: Meta

    @staticmethod
    def id_for(subject_id: UUID) -> UUID:
        return uuid5(DATA_PROTECTION_NAMESPACE, f"legal-hold:{subject_id}")

    @classmethod
    def place_for(cls, *, subject_id: UUID, reason: str, meta: Meta) -> LegalHold:
        return cls(id=cls.id_for(subject_id), subject_id=subject_id, reason=reason, meta=meta)

    @event(Placed)
    def __init__(self, *, id: UUID, subject_id: UUID, reason: str, meta: Meta) -> None:
        self.subject_id = subject_id
        self.active = True
        self.reason = reason

    def check_not_active(self) -> None:
        if self.active:
            raise LegalHoldError(
                f"a legal hold keeps the data of subject {self.subject_id}: {self.reason}",
                subject=str(self.subject_id),
            )

    def place(self, *, reason: str, meta: Meta) -> None:
        if self.active:
            raise LegalHoldAlreadyPlacedError("a legal hold is placed already")
        self._placed_again(reason=reason, meta=meta)

    @event(PlacedAgain)
    def _placed_again(self, *, reason: str, meta: Meta) -> None:
        self.active = True
        self.reason = reason

    def lift(self, *, reason: str, meta: Meta) -> None:
        if not self.active:
            raise NoLegalHoldError("no legal hold is placed")
        self._lifted(reason=reason, meta=meta)

    @event(Lifted)
    def _lifted(self, *, reason: str, meta: Meta) -> None:
        self.active = False


class Erasure(Aggregate):
    """The erasure of one person: requested by the data protection officer, the person's
    data key destroyed, and each service's confirmation that it forgot the person.

    One per person (its id derives from the pseudonym): requesting it again continues an
    erasure that stopped half-way and otherwise changes nothing. The events are the
    erasure certificate; they hold no personal data.
    """

    class Requested(Aggregate.Created):
        subject_id: UUID
        district: str
        ground: str
        reason: str
        meta: Meta

    class KeyDestroyed(Aggregate.Event):
        destroyed_at: datetime
        ground: str
        requested_by: str
        meta: Meta

    class Confirmed(Aggregate.Event):
        service: str
        deployment: str
        confirmed_at: datetime
        meta: Meta

    @staticmethod
    def id_for(subject_id: UUID) -> UUID:
        return uuid5(DATA_PROTECTION_NAMESPACE, f"erasure:{subject_id}")

    @classmethod
    def request(
        cls, *, subject_id: UUID, district: str, ground: str, reason: str, meta: Meta
    ) -> Erasure:
        return cls(
            id=cls.id_for(subject_id),
            subject_id=subject_id,
            district=district,
            ground=ground,
            reason=reason,
            meta=meta,
        )

    @event(Requested)
    def __init__(
        self, *, id: UUID, subject_id: UUID, district: str, ground: str, reason: str, meta: Meta
    ) -> None:
        self.subject_id = subject_id
        self.district = district
        self.ground = ground
        self.reason = reason
        self.requested_by: str = meta["actor"]
        self.key_destroyed_at: datetime | None = None
        self.confirmations: dict[str, tuple[str, datetime]] = {}
        """deployment -> (service, confirmed at)"""

    def record_key_destroyed(self, *, at: datetime, meta: Meta) -> None:
        if self.key_destroyed_at is None:
            self._key_destroyed(
                destroyed_at=at, ground=self.ground, requested_by=self.requested_by, meta=meta
            )

    @event(KeyDestroyed)
    def _key_destroyed(
        self, *, destroyed_at: datetime, ground: str, requested_by: str, meta: Meta
    ) -> None:
        self.key_destroyed_at = destroyed_at

    def confirm(self, *, service: str, deployment: str, confirmed_at: datetime, meta: Meta) -> None:
        """A service forgot the person; a repeated confirmation changes nothing."""
        if deployment not in self.confirmations:
            self._confirmed(
                service=service, deployment=deployment, confirmed_at=confirmed_at, meta=meta
            )

    @event(Confirmed)
    def _confirmed(
        self, *, service: str, deployment: str, confirmed_at: datetime, meta: Meta
    ) -> None:
        self.confirmations[deployment] = (service, confirmed_at)


class CategoryErasure(Aggregate):
    """The erasure of one data category of a person (e.g. their visit notes, by retention
    one year after the case closed): the data key of that category is destroyed
    (crypto-shredding), the person and the rest of their record stay.

    One per person and category (its id derives from both); every request is recorded
    (``Requested``/``RequestedAgain``) before the key is destroyed and ``KeyDestroyed``
    after it, so a request that stopped half-way is completed by the next one. Notes written
    after an erasure (a new case) are sealed with a new key and erased by a later request.
    The events are the audit trail; they hold no personal data.
    """

    class Requested(Aggregate.Created):
        subject_id: UUID
        category: str
        district: str
        ground: str
        reason: str
        meta: Meta

    class RequestedAgain(Aggregate.Event):
        district: str
        ground: str
        reason: str
        meta: Meta

    class KeyDestroyed(Aggregate.Event):
        category: str
        destroyed_at: datetime
        ground: str
        requested_by: str
        meta: Meta

    @staticmethod
    def id_for(subject_id: UUID, category: str) -> UUID:
        return uuid5(DATA_PROTECTION_NAMESPACE, f"category-erasure:{subject_id}:{category}")

    @classmethod
    def request(
        cls,
        *,
        subject_id: UUID,
        category: str,
        district: str,
        ground: str,
        reason: str,
        meta: Meta,
    ) -> CategoryErasure:
        return cls(
            id=cls.id_for(subject_id, category),
            subject_id=subject_id,
            category=category,
            district=district,
            ground=ground,
            reason=reason,
            meta=meta,
        )

    @event(Requested)
    def __init__(
        self,
        *,
        id: UUID,
        subject_id: UUID,
        category: str,
        district: str,
        ground: str,
        reason: str,
        meta: Meta,
    ) -> None:
        self.subject_id = subject_id
        self.category = category
        self._requested(district, ground, reason, meta)
        self.key_destroyed_at: datetime | None = None

    def _requested(self, district: str, ground: str, reason: str, meta: Meta) -> None:
        self.district = district
        self.ground = ground
        self.reason = reason
        self.requested_by: str = meta["actor"]
        self.pending = True

    def request_again(self, *, district: str, ground: str, reason: str, meta: Meta) -> None:
        """A new request; one still pending (its key not destroyed yet) is continued."""
        if not self.pending:
            self._requested_again(district=district, ground=ground, reason=reason, meta=meta)

    @event(RequestedAgain)
    def _requested_again(self, *, district: str, ground: str, reason: str, meta: Meta) -> None:
        self._requested(district, ground, reason, meta)

    def record_key_destroyed(self, *, at: datetime, meta: Meta) -> None:
        if self.pending:
            self._key_destroyed(
                category=self.category,
                destroyed_at=at,
                ground=self.ground,
                requested_by=self.requested_by,
                meta=meta,
            )

    @event(KeyDestroyed)
    def _key_destroyed(
        self, *, category: str, destroyed_at: datetime, ground: str, requested_by: str, meta: Meta
    ) -> None:
        self.key_destroyed_at = destroyed_at
        self.pending = False
