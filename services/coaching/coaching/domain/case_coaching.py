"""Which coaching of one case is open: at most one at a time."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from coaching.domain.errors import CoachingAlreadyOpenError

CASE_COACHING_NAMESPACE = UUID("b7e2d4c1-6a3f-4e8b-9d0c-1f2e3a4b5c6d")


class CaseCoaching(Aggregate):
    """Which coaching of one case is open: at most one at a time.

    Its id is derived from the case id, so a referral after a visit and a case manager's
    direct request for the same case collide in the event store, atomically. Its events are
    internal (never published) and record no ``meta``; their ``TOPIC`` is the name they are
    stored under.
    """

    class Started(Aggregate.Created):
        TOPIC = "coaching.domain:CaseCoaching.Started"
        case_id: UUID

    class Opened(Aggregate.Event):
        TOPIC = "coaching.domain:CaseCoaching.Opened"
        coaching_id: UUID

    class Closed(Aggregate.Event):
        TOPIC = "coaching.domain:CaseCoaching.Closed"
        coaching_id: UUID

    @staticmethod
    def id_for(case_id: UUID) -> UUID:
        return uuid5(CASE_COACHING_NAMESPACE, str(case_id))

    @classmethod
    def start(cls, case_id: UUID) -> CaseCoaching:
        return cls(id=cls.id_for(case_id), case_id=case_id)

    @event(Started)
    def __init__(self, *, id: UUID, case_id: UUID) -> None:
        self.case_id = case_id
        self.open_coaching_id: UUID | None = None

    def check_none_open(self) -> None:
        if self.open_coaching_id is not None:
            raise CoachingAlreadyOpenError(
                f"a coaching is open for this case already: {self.open_coaching_id}",
                existing_coaching_id=str(self.open_coaching_id),
            )

    def open(self, coaching_id: UUID) -> None:
        self.check_none_open()
        self._opened(coaching_id=coaching_id)

    @event(Opened)
    def _opened(self, *, coaching_id: UUID) -> None:
        self.open_coaching_id = coaching_id

    def close(self, coaching_id: UUID) -> None:
        if self.open_coaching_id == coaching_id:
            self._closed(coaching_id=coaching_id)

    @event(Closed)
    def _closed(self, *, coaching_id: UUID) -> None:
        self.open_coaching_id = None
