"""A group programme the Jobcenter runs itself in one local office (Kreis Borken): a
capacity, dates, attendance and completion. A sub-domain of its own: it shares nothing
with the coachings but the service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from coaching.domain.errors import (
    AlreadyEnrolledError,
    DateOutOfRangeError,
    InvalidProgrammeError,
    NotEnrolledError,
    ParticipationCompletedError,
    ProgrammeFullError,
    ProgrammeNotOpenError,
)
from shared.dates import check_not_in_future
from shared.eventsourcing.meta import AuditedEvent


class Programme(Aggregate):
    """A group programme the Jobcenter runs itself in one local office (Kreis Borken).

    Each event records who caused it (``meta``, from the command's context). Its ``TOPIC``
    is the name it is stored under, so it stays when the class moves.
    """

    class Event(AuditedEvent):
        pass

    class Planned(Event, Aggregate.Created):
        TOPIC = "coaching.domain:Programme.Planned"
        district: str
        local_office: str
        title: str
        target_group: str
        dates: list[date]
        capacity: int
        open_to_neighbouring: bool
        mobile: bool

    class ParticipantEnrolled(Event):
        TOPIC = "coaching.domain:Programme.ParticipantEnrolled"
        case_id: UUID
        subject_id: UUID
        participant_district: str
        enrolled_on: date

    class AttendanceRecorded(Event):
        TOPIC = "coaching.domain:Programme.AttendanceRecorded"
        case_id: UUID
        session_on: date
        present: bool

    class ParticipationCompleted(Event):
        TOPIC = "coaching.domain:Programme.ParticipationCompleted"
        case_id: UUID
        completed_on: date

    @classmethod
    def plan(
        cls,
        *,
        programme_id: UUID,
        district: str,
        local_office: str,
        title: str,
        target_group: str,
        dates: Sequence[date],
        capacity: int,
        open_to_neighbouring: bool,
        mobile: bool,
    ) -> Programme:
        days = sorted(set(dates))
        if not days:
            raise InvalidProgrammeError("a programme has at least one date", field="dates")
        if not 1 <= capacity <= 100:
            raise InvalidProgrammeError("a group holds 1 to 100 people", field="capacity")
        if not title.strip():
            raise InvalidProgrammeError("a programme has a title", field="title")
        return cls(
            id=programme_id,
            district=district,
            local_office=local_office,
            title=title.strip(),
            target_group=target_group.strip(),
            dates=days,
            capacity=capacity,
            open_to_neighbouring=open_to_neighbouring,
            mobile=mobile,
        )

    @event(Planned)
    def __init__(
        self,
        *,
        id: UUID,
        district: str,
        local_office: str,
        title: str,
        target_group: str,
        dates: list[date],
        capacity: int,
        open_to_neighbouring: bool,
        mobile: bool,
    ) -> None:
        self.district = district
        self.local_office = local_office
        self.title = title
        self.target_group = target_group
        self.dates = list(dates)
        self.capacity = capacity
        self.open_to_neighbouring = open_to_neighbouring
        self.mobile = mobile
        self.participants: dict[UUID, bool] = {}
        """case id -> completed."""
        self.subjects: dict[UUID, UUID] = {}
        """case id -> the participant's pseudonym (whose data a participation's events are)."""

    @property
    def free_places(self) -> int:
        return max(self.capacity - len(self.participants), 0)

    def check_enrolled(self, case_id: UUID) -> None:
        if case_id not in self.participants:
            raise NotEnrolledError(
                "this person is not enrolled in the programme", case_id=str(case_id)
            )

    def enrol(
        self, *, case_id: UUID, subject_id: UUID, participant_district: str, today: date
    ) -> None:
        if case_id in self.participants:
            raise AlreadyEnrolledError("this person is enrolled already", case_id=str(case_id))
        if participant_district != self.district and not self.open_to_neighbouring:
            raise ProgrammeNotOpenError(
                f"the programme is open to people of {self.district} only",
                district=self.district,
            )
        if self.free_places == 0:
            raise ProgrammeFullError(
                f"the programme is full ({self.capacity} places)", capacity=self.capacity
            )
        self._participant_enrolled(
            case_id=case_id,
            subject_id=subject_id,
            participant_district=participant_district,
            enrolled_on=today,
        )

    @event(ParticipantEnrolled)
    def _participant_enrolled(
        self, *, case_id: UUID, subject_id: UUID, participant_district: str, enrolled_on: date
    ) -> None:
        self.participants[case_id] = False
        self.subjects[case_id] = subject_id

    def record_attendance(
        self, *, case_id: UUID, session_on: date, present: bool, today: date
    ) -> None:
        self.check_enrolled(case_id)
        if session_on not in self.dates:
            raise DateOutOfRangeError(
                f"{session_on.isoformat()} is not a date of the programme", field="session_on"
            )
        check_not_in_future("session_on", session_on, today)
        self._attendance_recorded(case_id=case_id, session_on=session_on, present=present)

    @event(AttendanceRecorded)
    def _attendance_recorded(self, *, case_id: UUID, session_on: date, present: bool) -> None:
        pass

    def complete(self, *, case_id: UUID, completed_on: date, today: date) -> None:
        self.check_enrolled(case_id)
        if self.participants[case_id]:
            raise ParticipationCompletedError(
                "this participation is completed already", case_id=str(case_id)
            )
        check_not_in_future("completed_on", completed_on, today)
        self._participation_completed(case_id=case_id, completed_on=completed_on)

    @event(ParticipationCompleted)
    def _participation_completed(self, *, case_id: UUID, completed_on: date) -> None:
        self.participants[case_id] = True
