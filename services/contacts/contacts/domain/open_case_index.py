"""Which case is open for one customer number in one district: reporting the same person
twice collides in the event store, atomically."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from contacts.domain.errors import OpenCaseExistsError
from contacts.domain.values import OPEN_CASE_INDEX_NAMESPACE


class OpenCaseIndex(Aggregate):
    """Which case is open for one customer number in one district.

    Its id is derived from a blind index of the customer number (never the number itself),
    so reporting the same person twice collides in the event store, atomically.
    """

    class Opened(Aggregate.Created):
        TOPIC = "contacts.domain:OpenCaseIndex.Opened"

        case_id: UUID

    class OpenedAgain(Aggregate.Event):
        TOPIC = "contacts.domain:OpenCaseIndex.OpenedAgain"

        case_id: UUID

    class Released(Aggregate.Event):
        TOPIC = "contacts.domain:OpenCaseIndex.Released"

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
