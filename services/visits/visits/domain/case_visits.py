"""Which visit of one case is pending, and how many visits the case has had."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from visits.domain.errors import VisitAlreadyAnnouncedError

CASE_VISITS_NAMESPACE = UUID("8e3b5a71-2c4d-4f60-9b1a-7d6c5e4f3a2b")


class CaseVisits(Aggregate):
    """Which visit of one case is pending, and how many visits the case has had.

    Its id is derived from the case id, so two announcements for the same case collide in
    the event store, atomically; and a consumer finds the pending visit of a case without a
    read model that might lag behind. Its events are internal (never published) and record
    no ``meta``; their ``TOPIC`` is the name they are stored under.
    """

    class Started(Aggregate.Created):
        TOPIC = "visits.domain:CaseVisits.Started"
        case_id: UUID

    class VisitOpened(Aggregate.Event):
        TOPIC = "visits.domain:CaseVisits.VisitOpened"
        visit_id: UUID

    class VisitClosed(Aggregate.Event):
        TOPIC = "visits.domain:CaseVisits.VisitClosed"
        visit_id: UUID
        completed: bool

    @staticmethod
    def id_for(case_id: UUID) -> UUID:
        return uuid5(CASE_VISITS_NAMESPACE, str(case_id))

    @classmethod
    def start(cls, case_id: UUID) -> CaseVisits:
        return cls(id=cls.id_for(case_id), case_id=case_id)

    @event(Started)
    def __init__(self, *, id: UUID, case_id: UUID) -> None:
        self.case_id = case_id
        self.pending_visit_id: UUID | None = None
        self.completed_visits = 0

    def open(self, visit_id: UUID) -> None:
        if self.pending_visit_id is not None:
            raise VisitAlreadyAnnouncedError(
                f"a visit is announced for this case already: {self.pending_visit_id}",
                pending_visit_id=str(self.pending_visit_id),
            )
        self._visit_opened(visit_id=visit_id)

    @event(VisitOpened)
    def _visit_opened(self, *, visit_id: UUID) -> None:
        self.pending_visit_id = visit_id

    def close(self, visit_id: UUID, *, completed: bool) -> None:
        if self.pending_visit_id == visit_id:
            self._visit_closed(visit_id=visit_id, completed=completed)

    @event(VisitClosed)
    def _visit_closed(self, *, visit_id: UUID, completed: bool) -> None:
        self.pending_visit_id = None
        if completed:
            self.completed_visits += 1

    @property
    def next_attempt_number(self) -> int:
        return self.completed_visits + 1
