"""The erasure of one person (GDPR Art. 17): its events are the erasure certificate."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from contacts.domain.values import DATA_PROTECTION_NAMESPACE
from shared.eventsourcing.meta import AuditedEvent


class Erasure(Aggregate):
    """The erasure of one person: requested by the data protection officer, the person's
    data key destroyed, and each service's confirmation that it forgot the person.

    One per person (its id derives from the pseudonym): requesting it again continues an
    erasure that stopped half-way and otherwise changes nothing. The events are the
    erasure certificate; they hold no personal data. Each records who caused it (``meta``,
    from the command's context); who requested the erasure is who caused ``Requested``.
    """

    class Event(AuditedEvent):
        pass

    class Requested(Event, Aggregate.Created):
        TOPIC = "contacts.domain:Erasure.Requested"

        subject_id: UUID
        district: str
        ground: str
        reason: str

        def apply(self, aggregate: Erasure) -> None:
            aggregate.requested_by = self.meta["actor"]

    class KeyDestroyed(Event):
        TOPIC = "contacts.domain:Erasure.KeyDestroyed"

        destroyed_at: datetime
        ground: str
        requested_by: str

    class Confirmed(Event):
        TOPIC = "contacts.domain:Erasure.Confirmed"

        service: str
        deployment: str
        confirmed_at: datetime

    @staticmethod
    def id_for(subject_id: UUID) -> UUID:
        return uuid5(DATA_PROTECTION_NAMESPACE, f"erasure:{subject_id}")

    @classmethod
    def request(cls, *, subject_id: UUID, district: str, ground: str, reason: str) -> Erasure:
        return cls(
            id=cls.id_for(subject_id),
            subject_id=subject_id,
            district=district,
            ground=ground,
            reason=reason,
        )

    @event(Requested)
    def __init__(
        self, *, id: UUID, subject_id: UUID, district: str, ground: str, reason: str
    ) -> None:
        self.subject_id = subject_id
        self.district = district
        self.ground = ground
        self.reason = reason
        self.requested_by: str
        """Who caused ``Requested`` (its ``apply``)."""
        self.key_destroyed_at: datetime | None = None
        self.confirmations: dict[str, tuple[str, datetime]] = {}
        """deployment -> (service, confirmed at)"""

    def record_key_destroyed(self, *, at: datetime) -> None:
        if self.key_destroyed_at is None:
            self._key_destroyed(destroyed_at=at, ground=self.ground, requested_by=self.requested_by)

    @event(KeyDestroyed)
    def _key_destroyed(self, *, destroyed_at: datetime, ground: str, requested_by: str) -> None:
        self.key_destroyed_at = destroyed_at

    def confirm(self, *, service: str, deployment: str, confirmed_at: datetime) -> None:
        """A service forgot the person; a repeated confirmation changes nothing."""
        if deployment not in self.confirmations:
            self._confirmed(service=service, deployment=deployment, confirmed_at=confirmed_at)

    @event(Confirmed)
    def _confirmed(self, *, service: str, deployment: str, confirmed_at: datetime) -> None:
        self.confirmations[deployment] = (service, confirmed_at)
