"""A legal hold: keeps one person's data from being erased (GDPR Art. 17(3))."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from contacts.domain.errors import LegalHoldAlreadyPlacedError, LegalHoldError, NoLegalHoldError
from contacts.domain.values import DATA_PROTECTION_NAMESPACE, Meta


class LegalHold(Aggregate):
    """Keeps one person's data from being erased, until the data protection officer lifts it.

    One per person (its id derives from the pseudonym); placed and lifted with a reason. The
    reasons stay in the audit trail after an erasure: they must not hold personal data.
    """

    class Placed(Aggregate.Created):
        TOPIC = "contacts.domain:LegalHold.Placed"

        subject_id: UUID
        reason: str
        meta: Meta

    class PlacedAgain(Aggregate.Event):
        TOPIC = "contacts.domain:LegalHold.PlacedAgain"

        reason: str
        meta: Meta

    class Lifted(Aggregate.Event):
        TOPIC = "contacts.domain:LegalHold.Lifted"

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
