"""The erasure of one data category of a person (e.g. their visit notes, by retention)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from contacts.domain.values import DATA_PROTECTION_NAMESPACE
from shared.eventsourcing.meta import AuditedEvent


class CategoryErasure(Aggregate):
    """The erasure of one data category of a person (e.g. their visit notes, by retention
    one year after the case closed): the data key of that category is destroyed
    (crypto-shredding), the person and the rest of their record stay.

    One per person and category (its id derives from both); every request is recorded
    (``Requested``/``RequestedAgain``) before the key is destroyed and ``KeyDestroyed``
    after it, so a request that stopped half-way is completed by the next one. Notes written
    after an erasure (a new case) are sealed with a new key and erased by a later request.
    The events are the audit trail; they hold no personal data. Each records who caused it
    (``meta``, from the command's context); who requested the erasure is who caused the
    latest request (the ``apply`` of ``Requested`` and ``RequestedAgain``).
    """

    class Event(AuditedEvent):
        pass

    class Request(Event):
        """A request of the erasure: the first, or a later one."""

        def apply(self, aggregate: CategoryErasure) -> None:
            aggregate.requested_by = self.meta["actor"]

    class Requested(Request, Aggregate.Created):
        TOPIC = "contacts.domain:CategoryErasure.Requested"

        subject_id: UUID
        category: str
        district: str
        ground: str
        reason: str

    class RequestedAgain(Request):
        TOPIC = "contacts.domain:CategoryErasure.RequestedAgain"

        district: str
        ground: str
        reason: str

    class KeyDestroyed(Event):
        TOPIC = "contacts.domain:CategoryErasure.KeyDestroyed"

        category: str
        destroyed_at: datetime
        ground: str
        requested_by: str

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
    ) -> CategoryErasure:
        return cls(
            id=cls.id_for(subject_id, category),
            subject_id=subject_id,
            category=category,
            district=district,
            ground=ground,
            reason=reason,
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
    ) -> None:
        self.subject_id = subject_id
        self.category = category
        self._requested(district, ground, reason)
        self.key_destroyed_at: datetime | None = None
        self.requested_by: str
        """Who caused the latest request (its event's ``apply``)."""

    def _requested(self, district: str, ground: str, reason: str) -> None:
        self.district = district
        self.ground = ground
        self.reason = reason
        self.pending = True

    def request_again(self, *, district: str, ground: str, reason: str) -> None:
        """A new request; one still pending (its key not destroyed yet) is continued."""
        if not self.pending:
            self._requested_again(district=district, ground=ground, reason=reason)

    @event(RequestedAgain)
    def _requested_again(self, *, district: str, ground: str, reason: str) -> None:
        self._requested(district, ground, reason)

    def record_key_destroyed(self, *, at: datetime) -> None:
        if self.pending:
            self._key_destroyed(
                category=self.category,
                destroyed_at=at,
                ground=self.ground,
                requested_by=self.requested_by,
            )

    @event(KeyDestroyed)
    def _key_destroyed(
        self, *, category: str, destroyed_at: datetime, ground: str, requested_by: str
    ) -> None:
        self.key_destroyed_at = destroyed_at
        self.pending = False
