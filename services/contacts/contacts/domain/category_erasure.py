"""The erasure of one data category of a person (e.g. their visit notes, by retention)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from contacts.domain.values import DATA_PROTECTION_NAMESPACE, Meta


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
        TOPIC = "contacts.domain:CategoryErasure.Requested"

        subject_id: UUID
        category: str
        district: str
        ground: str
        reason: str
        meta: Meta

    class RequestedAgain(Aggregate.Event):
        TOPIC = "contacts.domain:CategoryErasure.RequestedAgain"

        district: str
        ground: str
        reason: str
        meta: Meta

    class KeyDestroyed(Aggregate.Event):
        TOPIC = "contacts.domain:CategoryErasure.KeyDestroyed"

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
