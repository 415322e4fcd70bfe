"""A coach of one provider, with a maximum caseload. The places taken are recorded on the
coach, so two assignments at the same time cannot both take the last one."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from coaching.domain.errors import (
    CoachAtFullCaseloadError,
    CoachNotOfProviderError,
    InvalidCaseloadError,
)
from coaching.domain.provider import Provider
from shared.eventsourcing.meta import AuditedEvent

COACH_NAMESPACE = UUID("4c1f7e2a-9b3d-4a5e-8f6c-2d1e0b9a8c7f")


class Coach(Aggregate):
    """A coach of one provider. The user id of their ``provider_coach`` token names them
    (the coach's id is derived from it)."""

    class Event(AuditedEvent):
        pass

    class Registered(Event, Aggregate.Created):
        TOPIC = "coaching.domain:Coach.Registered"
        user: str
        provider_id: UUID
        display_name: str
        max_caseload: int
        emergency_line: str

    class PlaceTaken(Event):
        TOPIC = "coaching.domain:Coach.PlaceTaken"
        coaching_id: UUID

    class PlaceReleased(Event):
        TOPIC = "coaching.domain:Coach.PlaceReleased"
        coaching_id: UUID

    @staticmethod
    def id_for(user: str) -> UUID:
        return uuid5(COACH_NAMESPACE, user)

    @classmethod
    def register(
        cls,
        *,
        user: str,
        provider: Provider,
        display_name: str,
        max_caseload: int,
        emergency_line: str,
    ) -> Coach:
        if not 1 <= max_caseload <= 100:
            raise InvalidCaseloadError("a caseload holds 1 to 100 people", field="max_caseload")
        coach = cls(
            id=cls.id_for(user),
            user=user,
            provider_id=provider.id,
            display_name=display_name,
            max_caseload=max_caseload,
            emergency_line=emergency_line,
        )
        provider.add_coach(user)
        return coach

    @event(Registered)
    def __init__(
        self,
        *,
        id: UUID,
        user: str,
        provider_id: UUID,
        display_name: str,
        max_caseload: int,
        emergency_line: str,
    ) -> None:
        self.user = user
        self.provider_id = provider_id
        self.display_name = display_name
        self.max_caseload = max_caseload
        self.emergency_line = emergency_line
        self.coachings: list[UUID] = []

    @property
    def free_places(self) -> int:
        return max(self.max_caseload - len(self.coachings), 0)

    def check_works_for(self, provider_id: UUID) -> None:
        if self.provider_id != provider_id:
            raise CoachNotOfProviderError(
                f"{self.user} is not a coach of this provider", field="coach"
            )

    def take_place(self, coaching_id: UUID) -> None:
        """Raises :class:`CoachAtFullCaseloadError`; the application adds who has capacity."""
        if coaching_id in self.coachings:
            return
        if self.free_places == 0:
            raise CoachAtFullCaseloadError(
                f"{self.user} has a full caseload ({self.max_caseload})",
                coach=self.user,
                max_caseload=self.max_caseload,
            )
        self._place_taken(coaching_id=coaching_id)

    @event(PlaceTaken)
    def _place_taken(self, *, coaching_id: UUID) -> None:
        self.coachings.append(coaching_id)

    def release_place(self, coaching_id: UUID) -> None:
        if coaching_id in self.coachings:
            self._place_released(coaching_id=coaching_id)

    @event(PlaceReleased)
    def _place_released(self, *, coaching_id: UUID) -> None:
        self.coachings.remove(coaching_id)
