"""The outreach case of one person: contact lost, restored, details updated, closed; and
the steps of visits, coachings and letters noted in its timeline.

No I/O here. Personal fields arrive already sealed (tokens of the person's own key); the
case never sees plaintext. Times, ids and "today" are passed in by the application.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from contacts.domain.errors import (
    CaseClosedError,
    ContactAlreadyRestoredError,
    DateBeforeLastContactError,
    NothingToUpdateError,
)
from contacts.domain.values import LETTER_QUEUED, CaseStatus
from shared.contracts.contacts import CaseClosedReason, ContactChannel, ContactLostReason
from shared.dates import check_not_in_future
from shared.eventsourcing.meta import AuditedEvent


class OutreachCase(Aggregate):
    """One person, one period of lost contact, in one district.

    Each event records who caused it (``meta``, from the command's context: see
    ``shared.eventsourcing.meta``). Its ``TOPIC`` is the name it is stored under: the
    projections select the log by it, so it stays when the class moves.
    """

    class Event(AuditedEvent):
        pass

    class ContactLost(Event, Aggregate.Created):
        TOPIC = "contacts.domain:OutreachCase.ContactLost"

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

    class ContactRestored(Event):
        TOPIC = "contacts.domain:OutreachCase.ContactRestored"

        channel: str
        restored_on: date
        case_manager: str

    class ContactDetailsUpdated(Event):
        TOPIC = "contacts.domain:OutreachCase.ContactDetailsUpdated"

        changes: dict[str, str]

    class Closed(Event):
        TOPIC = "contacts.domain:OutreachCase.Closed"

        reason: str

    class CoachingNoted(Event):
        """A fact from the coaching service, so the case's timeline stays a projection of
        the case's own log: a coach was assigned, or the coaching ended."""

        TOPIC = "contacts.domain:OutreachCase.CoachingNoted"

        kind: str
        details: dict[str, Any]

    class VisitNoted(Event):
        """A step of a visit from the visits service, for the timeline: announced,
        rescheduled, cancelled (also automatically, when the person got in touch first),
        made."""

        TOPIC = "contacts.domain:OutreachCase.VisitNoted"

        kind: str
        details: dict[str, Any]

    class LetterNoted(Event):
        """A step of a letter to the person from the notifications service, for the
        timeline: queued, in the print batch, held (and why), given up, retried."""

        TOPIC = "contacts.domain:OutreachCase.LetterNoted"

        kind: str
        details: dict[str, Any]

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

    def restore_contact(self, *, channel: ContactChannel, restored_on: date, today: date) -> None:
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
        )

    @event(ContactRestored)
    def _contact_restored(self, *, channel: str, restored_on: date, case_manager: str) -> None:
        self.status = CaseStatus.CONTACT_RESTORED
        self.restored_channel = ContactChannel(channel)

    def update_contact_details(self, *, changes: dict[str, str]) -> None:
        self.check_is_open()
        if not changes:
            raise NothingToUpdateError("no contact detail was given")
        self._contact_details_updated(changes=changes)

    @event(ContactDetailsUpdated)
    def _contact_details_updated(self, *, changes: dict[str, str]) -> None:
        self.person.update(changes)

    def close(self, *, reason: CaseClosedReason) -> None:
        self.check_is_open()
        self._closed(reason=reason.value)

    @event(Closed)
    def _closed(self, *, reason: str) -> None:
        self.status = CaseStatus.CLOSED

    def note_coaching(self, *, kind: str, details: dict[str, Any]) -> None:
        """Record a coaching fact in the timeline. Also on a closed case (a coaching can
        outlast the outreach case); it never changes the case's status, and no coaching
        outcome (declining included) marks the person."""
        self._coaching_noted(kind=kind, details=details)

    @event(CoachingNoted)
    def _coaching_noted(self, *, kind: str, details: dict[str, Any]) -> None:
        pass

    def note_visit(self, *, kind: str, details: dict[str, Any]) -> None:
        """Record a step of a visit in the timeline. Also on a closed case; it never changes
        the case's status (a visit that reached the person restores the contact through
        ``restore_contact``, one that did not marks nothing)."""
        self._visit_noted(kind=kind, details=details)

    @event(VisitNoted)
    def _visit_noted(self, *, kind: str, details: dict[str, Any]) -> None:
        pass

    def note_letter(self, *, kind: str, details: dict[str, Any]) -> None:
        """Record a step of a letter to the person in the timeline (never its content)."""
        self._letter_noted(kind=kind, details=details)

    @event(LetterNoted)
    def _letter_noted(self, *, kind: str, details: dict[str, Any]) -> None:
        if kind == LETTER_QUEUED:
            self.letters = self.letters | {str(details["notification_id"])}

    @property
    def letters(self) -> frozenset[str]:
        """The notifications that are letters to the person about this case."""
        return frozenset(self.__dict__.get("_letters", frozenset()))

    @letters.setter
    def letters(self, value: frozenset[str]) -> None:
        self.__dict__["_letters"] = frozenset(value)
