"""A visit to one person: announced in writing, maybe rescheduled, cancelled or completed.

No I/O here. Personal fields (name, address, the description of a neutral place, the note)
arrive already sealed with the person's own key; the visit never sees plaintext. "Today",
ids and the district's rules are passed in by the application.

Not meeting the person or being refused entry is an outcome like any other (DOMAIN.md,
step 3): the visit records what happened and how many visits the case has had, and nothing
that marks the person.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared.contracts.visits import (
    MeetingPlace,
    Need,
    NextStep,
    VisitCancelledReason,
    VisitOutcome,
    VisitPurpose,
)
from shared.errors import ConflictError, ForbiddenError, InvalidInputError

Meta = dict[str, Any]
"""Who did it and which request it belongs to (see ``shared.eventstore.CommandContext``)."""

MAX_WORKERS = 2


class VisitStatus(StrEnum):
    ANNOUNCED = "announced"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class WindowInPastError(InvalidInputError):
    code = "window_in_past"


class LeadTimeTooShortError(InvalidInputError):
    code = "lead_time_too_short"


class InvalidScheduleError(InvalidInputError):
    code = "invalid_schedule"


class InvalidWorkersError(InvalidInputError):
    code = "invalid_workers"


class PlaceDescriptionError(InvalidInputError):
    code = "invalid_place"


class DateInFutureError(InvalidInputError):
    code = "date_in_future"


class VisitCancelledError(ConflictError):
    code = "visit_cancelled"


class VisitNotBegunError(ConflictError):
    code = "visit_not_begun"


class VisitAlreadyCompletedError(ConflictError):
    code = "visit_already_completed"


class VisitAlreadyAnnouncedError(ConflictError):
    code = "visit_already_announced"


class NotAssignedToVisitError(ForbiddenError):
    code = "not_assigned_to_visit"


class VisitChangedError(ConflictError):
    """A command was given against a version of the visit that is not its current one: the
    visit was rescheduled, cancelled or completed meanwhile (e.g. while an outcome waited in
    a phone's queue without a signal). The answer names what differs, so the person who
    typed it can decide; nothing is applied."""

    code = "visit_changed"


@dataclass(frozen=True)
class VisitRules:
    """The district-specific rules (configuration, DOMAIN.md step 1 and 2)."""

    min_lead_days: Mapping[str, int] = field(default_factory=dict)
    """Days the letter must go out before the visit, per district."""
    max_attempts: Mapping[str, int] = field(default_factory=dict)
    """Visits without reaching the person before the team lead looks at the case."""
    default_min_lead_days: int = 5
    default_max_attempts: int = 3

    def lead_days_for(self, district: str) -> int:
        return self.min_lead_days.get(district, self.default_min_lead_days)

    def max_attempts_for(self, district: str) -> int:
        return self.max_attempts.get(district, self.default_max_attempts)


@dataclass(frozen=True)
class Schedule:
    """One day with an optional time slot, or a window of days without an exact time."""

    first_day: date
    last_day: date
    time_from: time | None = None
    time_to: time | None = None

    @classmethod
    def on(cls, day: date, time_from: time | None = None, time_to: time | None = None) -> Schedule:
        return cls(day, day, time_from, time_to)

    @classmethod
    def window(cls, first_day: date, last_day: date) -> Schedule:
        return cls(first_day, last_day)

    def check_is_valid(self) -> None:
        if self.last_day < self.first_day:
            raise InvalidScheduleError("the window ends before it starts", field="window")
        if (self.time_from is None) != (self.time_to is None):
            raise InvalidScheduleError("a time slot needs a start and an end", field="time_slot")
        if self.time_from is not None and self.time_to is not None:
            if self.first_day != self.last_day:
                raise InvalidScheduleError(
                    "a time slot is only given with a single date", field="time_slot"
                )
            if self.time_to <= self.time_from:
                raise InvalidScheduleError("the time slot ends before it starts", field="time_slot")

    def check_announceable(self, *, announced_on: date, today: date, lead_days: int) -> None:
        """The visit lies ahead, and the letter goes out at least ``lead_days`` before it."""
        self.check_is_valid()
        if self.first_day < today:
            raise WindowInPastError(
                f"the visit would start on {self.first_day.isoformat()}, in the past",
                field="schedule",
            )
        if announced_on < today:
            raise WindowInPastError(
                "the announcement letter cannot go out in the past", field="announced_on"
            )
        lead = (self.first_day - announced_on).days
        if lead < lead_days:
            raise LeadTimeTooShortError(
                f"the letter must go out at least {lead_days} days before the visit; "
                f"it would be {lead}",
                minimum_days=lead_days,
                lead_days=lead,
            )

    def as_event(self) -> dict[str, Any]:
        return {
            "first_day": self.first_day,
            "last_day": self.last_day,
            "time_from": self.time_from.isoformat("minutes") if self.time_from else None,
            "time_to": self.time_to.isoformat("minutes") if self.time_to else None,
        }

    @classmethod
    def from_event(cls, data: Mapping[str, Any]) -> Schedule:
        def parse_time(value: str | None) -> time | None:
            return time.fromisoformat(value) if value else None

        return cls(
            data["first_day"],
            data["last_day"],
            parse_time(data.get("time_from")),
            parse_time(data.get("time_to")),
        )


def check_workers(workers: Sequence[str]) -> list[str]:
    """One or two distinct, non-empty user ids (there is no directory to check them against).

    A worker named twice is refused, not silently merged: whoever announced a visit for two
    people meant two, and the letter says who comes."""
    named = [w.strip() for w in workers]
    if not named or any(not w for w in named):
        raise InvalidWorkersError("name one or two outreach workers", field="workers")
    if len(set(named)) != len(named):
        raise InvalidWorkersError("name each outreach worker once", field="workers")
    if len(named) > MAX_WORKERS:
        raise InvalidWorkersError("at most two outreach workers go on a visit", field="workers")
    return named


def check_place(place: MeetingPlace, description_token: str | None) -> None:
    if place is MeetingPlace.NEUTRAL_PLACE and description_token is None:
        raise PlaceDescriptionError("a neutral place needs a description", field="place")
    if place is MeetingPlace.HOME and description_token is not None:
        raise PlaceDescriptionError("a home visit takes no place description", field="place")


class Visit(Aggregate):
    """One announced visit to one person (one outreach case)."""

    class Announced(Aggregate.Created):
        case_id: UUID
        subject_id: UUID
        district: str
        workers: list[str]
        schedule: dict[str, Any]
        purpose: str
        place: str
        place_description: str | None
        announced_on: date
        name: str
        address: str
        meta: Meta

    class Rescheduled(Aggregate.Event):
        """A new announcement: it repeats what the letter needs, so it stands on its own."""

        case_id: UUID
        workers: list[str]
        schedule: dict[str, Any]
        purpose: str
        place: str
        place_description: str | None
        announced_on: date
        name: str
        address: str
        meta: Meta

    class Cancelled(Aggregate.Event):
        case_id: UUID
        reason: str
        cancelled_on: date
        meta: Meta

    class Completed(Aggregate.Event):
        case_id: UUID
        outcome: str
        needs: list[str]
        note: str | None
        coaching_referral_consent: bool
        next_step: str
        completed_on: date
        attempt_number: int
        meta: Meta

    @classmethod
    def announce(
        cls,
        *,
        visit_id: UUID,
        case_id: UUID,
        subject_id: UUID,
        district: str,
        workers: Sequence[str],
        schedule: Schedule,
        purpose: VisitPurpose,
        place: MeetingPlace,
        place_description: str | None,
        announced_on: date,
        name: str,
        address: str,
        today: date,
        rules: VisitRules,
        meta: Meta,
    ) -> Visit:
        assigned = check_workers(workers)
        check_place(place, place_description)
        schedule.check_announceable(
            announced_on=announced_on, today=today, lead_days=rules.lead_days_for(district)
        )
        return cls(
            id=visit_id,
            case_id=case_id,
            subject_id=subject_id,
            district=district,
            workers=assigned,
            schedule=schedule.as_event(),
            purpose=purpose.value,
            place=place.value,
            place_description=place_description,
            announced_on=announced_on,
            name=name,
            address=address,
            meta=meta,
        )

    @event(Announced)
    def __init__(
        self,
        *,
        id: UUID,
        case_id: UUID,
        subject_id: UUID,
        district: str,
        workers: list[str],
        schedule: dict[str, Any],
        purpose: str,
        place: str,
        place_description: str | None,
        announced_on: date,
        name: str,
        address: str,
        meta: Meta,
    ) -> None:
        self.case_id = case_id
        self.subject_id = subject_id
        self.district = district
        self.workers = list(workers)
        self.schedule = Schedule.from_event(schedule)
        self.purpose = VisitPurpose(purpose)
        self.place = MeetingPlace(place)
        self.place_description = place_description
        self.announced_on = announced_on
        self.name = name
        self.address = address
        self.status = VisitStatus.ANNOUNCED
        self.outcome: VisitOutcome | None = None
        self.cancelled_reason: str | None = None
        self.completed_on: date | None = None
        self.next_step: str | None = None

    def facts(self) -> dict[str, Any]:
        """What a person acting on the visit sees of it, without personal data: the fields a
        stale command is compared on (:meth:`check_version`)."""
        return {
            "status": self.status.value,
            "first_day": self.schedule.first_day.isoformat(),
            "last_day": self.schedule.last_day.isoformat(),
            "time_from": self.schedule.time_from.isoformat("minutes")
            if self.schedule.time_from
            else None,
            "time_to": self.schedule.time_to.isoformat("minutes")
            if self.schedule.time_to
            else None,
            "announced_on": self.announced_on.isoformat(),
            "workers": list(self.workers),
            "purpose": self.purpose.value,
            "place": self.place.value,
            "cancelled_reason": self.cancelled_reason,
            "outcome": self.outcome.value if self.outcome else None,
            "completed_on": self.completed_on.isoformat() if self.completed_on else None,
            "next_step": self.next_step,
        }

    def check_version(self, expected_version: int | None, seen: Visit | None) -> None:
        """The command was given against the current version (``None``: no expectation).

        ``seen`` is this visit as it was at ``expected_version`` (``None`` when there is no
        such version): the refusal names each field that differs between it and now."""
        if expected_version is None or expected_version == self.version:
            return
        now = self.facts()
        then = seen.facts() if seen is not None else {}
        differing = [name for name, value in now.items() if then.get(name) != value]
        raise VisitChangedError(
            f"the visit changed since version {expected_version}: "
            + (", ".join(differing) or "its version"),
            field="expected_version",
            expected_version=expected_version,
            current_version=self.version,
            differing=differing,
            seen={name: then.get(name) for name in differing},
            current={name: now[name] for name in differing},
        )

    def check_is_announced(self) -> None:
        if self.status is VisitStatus.CANCELLED:
            raise VisitCancelledError(f"visit {self.id} was cancelled", visit_id=str(self.id))
        if self.status is VisitStatus.COMPLETED:
            raise VisitAlreadyCompletedError(
                f"the outcome of visit {self.id} is recorded already", visit_id=str(self.id)
            )

    def check_has_begun(self, day: date) -> None:
        """An outcome (also "not met") is what happened on a day of the announced date or
        window: before its first day nobody could have gone, and the person was promised
        not to be visited earlier."""
        first_day = self.schedule.first_day
        if day < first_day:
            raise VisitNotBegunError(
                f"the visit begins on {first_day.isoformat()}; its outcome can be recorded "
                "from that day on",
                field="completed_on",
                first_day=first_day.isoformat(),
            )

    def check_may_record_outcome(self, user: str, *, is_team_lead: bool) -> None:
        if not is_team_lead and user not in self.workers:
            raise NotAssignedToVisitError(
                "only the assigned outreach workers or a team lead record the outcome"
            )

    def reschedule(
        self, *, schedule: Schedule, announced_on: date, today: date, rules: VisitRules, meta: Meta
    ) -> None:
        self.check_is_announced()
        schedule.check_announceable(
            announced_on=announced_on, today=today, lead_days=rules.lead_days_for(self.district)
        )
        self._rescheduled(
            case_id=self.case_id,
            workers=self.workers,
            schedule=schedule.as_event(),
            purpose=self.purpose.value,
            place=self.place.value,
            place_description=self.place_description,
            announced_on=announced_on,
            name=self.name,
            address=self.address,
            meta=meta,
        )

    @event(Rescheduled)
    def _rescheduled(
        self,
        *,
        case_id: UUID,
        workers: list[str],
        schedule: dict[str, Any],
        purpose: str,
        place: str,
        place_description: str | None,
        announced_on: date,
        name: str,
        address: str,
        meta: Meta,
    ) -> None:
        self.schedule = Schedule.from_event(schedule)
        self.announced_on = announced_on

    def cancel(self, *, reason: VisitCancelledReason, today: date, meta: Meta) -> None:
        self.check_is_announced()
        self._cancelled(case_id=self.case_id, reason=reason.value, cancelled_on=today, meta=meta)

    @event(Cancelled)
    def _cancelled(self, *, case_id: UUID, reason: str, cancelled_on: date, meta: Meta) -> None:
        self.status = VisitStatus.CANCELLED
        self.cancelled_reason = reason

    def complete(
        self,
        *,
        outcome: VisitOutcome,
        needs: Sequence[Need],
        note: str | None,
        coaching_referral_consent: bool,
        next_step: NextStep,
        completed_on: date,
        attempt_number: int,
        today: date,
        meta: Meta,
    ) -> None:
        self.check_is_announced()
        if completed_on > today:
            raise DateInFutureError(
                "the outcome of a visit that has not happened yet", field="completed_on"
            )
        self.check_has_begun(completed_on)
        self._completed(
            case_id=self.case_id,
            outcome=outcome.value,
            needs=sorted({n.value for n in needs}),
            note=note,
            coaching_referral_consent=coaching_referral_consent,
            next_step=next_step.value,
            completed_on=completed_on,
            attempt_number=attempt_number,
            meta=meta,
        )

    @event(Completed)
    def _completed(
        self,
        *,
        case_id: UUID,
        outcome: str,
        needs: list[str],
        note: str | None,
        coaching_referral_consent: bool,
        next_step: str,
        completed_on: date,
        attempt_number: int,
        meta: Meta,
    ) -> None:
        self.status = VisitStatus.COMPLETED
        self.outcome = VisitOutcome(outcome)
        self.completed_on = completed_on
        self.next_step = next_step


CASE_VISITS_NAMESPACE = UUID("8e3b5a71-2c4d-4f60-9b1a-7d6c5e4f3a2b")


class CaseVisits(Aggregate):
    """Which visit of one case is pending, and how many visits the case has had.

    Its id is derived from the case id, so two announcements for the same case collide in
    the event store, atomically; and a consumer finds the pending visit of a case without a
    read model that might lag behind.
    """

    class Started(Aggregate.Created):
        case_id: UUID

    class VisitOpened(Aggregate.Event):
        visit_id: UUID

    class VisitClosed(Aggregate.Event):
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


_POSTCODE = re.compile(r"\b(\d{5})\b")
_HOUSE_NUMBER = re.compile(r"^(?P<street>.*?)\s+(?P<number>\d+)\s*(?P<suffix>[a-zA-Z]?)\b.*$")


def address_sort_key(address: str) -> tuple[str, str, int, str]:
    """Order for a day's round: postal code, then street, then house number.

    Parses German addresses like ``"Friedrich-Ebert-Straße 12, 34117 Kassel"``; what cannot
    be parsed sorts last, by its text.
    """
    postcode = _POSTCODE.search(address)
    street_part = address.split(",", 1)[0].strip()
    match = _HOUSE_NUMBER.match(street_part)
    street, number, suffix = (
        (match["street"], int(match["number"]), match["suffix"].lower())
        if match
        else (street_part, 0, "")
    )
    return (postcode.group(1) if postcode else "99999", street.casefold(), number, suffix)
