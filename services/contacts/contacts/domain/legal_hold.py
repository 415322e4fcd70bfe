"""A legal hold: keeps one person's data from being erased (GDPR Art. 17(3))."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from contacts.domain.errors import LegalHoldAlreadyPlacedError, LegalHoldError, NoLegalHoldError
from contacts.domain.values import DATA_PROTECTION_NAMESPACE
from shared.eventsourcing.meta import AuditedEvent


class LegalHold(Aggregate):
    """Keeps one person's data from being erased, until the data protection officer lifts it.

    One per person (its id derives from the pseudonym); placed and lifted with a reason. The
    reasons stay in the audit trail after an erasure: they must not hold personal data.
    Each event records who caused it (``meta``, from the command's context).
    """

    class Event(AuditedEvent):
        pass

    class Placed(Event, Aggregate.Created):
        TOPIC = "contacts.domain:LegalHold.Placed"

        subject_id: UUID
        reason: str

    class PlacedAgain(Event):
        TOPIC = "contacts.domain:LegalHold.PlacedAgain"

        reason: str

    class Lifted(Event):
        TOPIC = "contacts.domain:LegalHold.Lifted"

        reason: str

    @staticmethod
    def id_for(subject_id: UUID) -> UUID:
        return uuid5(DATA_PROTECTION_NAMESPACE, f"legal-hold:{subject_id}")

    @classmethod
    def place_for(cls, *, subject_id: UUID, reason: str) -> LegalHold:
        return cls(id=cls.id_for(subject_id), subject_id=subject_id, reason=reason)

    @event(Placed)
    def __init__(self, *, id: UUID, subject_id: UUID, reason: str) -> None:
        self.subject_id = subject_id
        self.active = True
        self.reason = reason

    def check_not_active(self) -> None:
        if self.active:
            raise LegalHoldError(
                f"a legal hold keeps the data of subject {self.subject_id}: {self.reason}",
                subject=str(self.subject_id),
            )

    def place(self, *, reason: str) -> None:
        if self.active:
            raise LegalHoldAlreadyPlacedError("a legal hold is placed already")
        self._placed_again(reason=reason)

    @event(PlacedAgain)
    def _placed_again(self, *, reason: str) -> None:
        self.active = True
        self.reason = reason

    def lift(self, *, reason: str) -> None:
        if not self.active:
            raise NoLegalHoldError("no legal hold is placed")
        self._lifted(reason=reason)

    @event(Lifted)
    def _lifted(self, *, reason: str) -> None:
        self.active = False
