"""A visit to one person: announced in writing, maybe rescheduled, cancelled or completed.

No I/O here. Personal fields (name, address, the description of a neutral place, the note)
arrive already sealed with the person's own key; the visit never sees plaintext. "Today",
ids and the district's rules are passed in by the application.

Not meeting the person or being refused entry is an outcome like any other (DOMAIN.md,
step 3): the visit records what happened and how many visits the case has had, and nothing
that marks the person.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from shared.contracts.visits import (
    MeetingPlace,
    Need,
    NextStep,
    VisitCancelledReason,
    VisitOutcome,
    VisitPurpose,
)
from shared.dates import check_not_in_future
from shared.eventsourcing.meta import AuditedEvent
from visits.domain.errors import (
    InvalidWorkersError,
    NotAssignedToVisitError,
    PlaceDescriptionError,
    VisitAlreadyCompletedError,
    VisitCancelledError,
    VisitChangedError,
    VisitNotBegunError,
)
from visits.domain.values import Schedule, VisitRules

MAX_WORKERS = 2


class VisitStatus(StrEnum):
    ANNOUNCED = "announced"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


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
    """One announced visit to one person (one outreach case).

    Each event records who caused it (``meta``, from the command's context: see
    ``shared.eventsourcing.meta``). Its ``TOPIC`` is the name it is stored under: the
    projections select the log by it, so it stays when the class moves.
    """

    class Event(AuditedEvent):
        pass

    class Announced(Event, Aggregate.Created):
        TOPIC = "visits.domain:Visit.Announced"

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

    class Rescheduled(Event):
        """A new announcement: it repeats what the letter needs, so it stands on its own."""

        TOPIC = "visits.domain:Visit.Rescheduled"

        case_id: UUID
        workers: list[str]
        schedule: dict[str, Any]
        purpose: str
        place: str
        place_description: str | None
        announced_on: date
        name: str
        address: str

    class Cancelled(Event):
        TOPIC = "visits.domain:Visit.Cancelled"

        case_id: UUID
        reason: str
        cancelled_on: date

    class Completed(Event):
        TOPIC = "visits.domain:Visit.Completed"

        case_id: UUID
        outcome: str
        needs: list[str]
        note: str | None
        coaching_referral_consent: bool
        next_step: str
        completed_on: date
        attempt_number: int

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
        schedule = self.schedule
        return {
            "status": self.status.value,
            "first_day": schedule.first_day.isoformat(),
            "last_day": schedule.last_day.isoformat(),
            "time_from": schedule.time_from.isoformat("minutes") if schedule.time_from else None,
            "time_to": schedule.time_to.isoformat("minutes") if schedule.time_to else None,
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
        self, *, schedule: Schedule, announced_on: date, today: date, rules: VisitRules
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
    ) -> None:
        self.schedule = Schedule.from_event(schedule)
        self.announced_on = announced_on

    def cancel(self, *, reason: VisitCancelledReason, today: date) -> None:
        self.check_is_announced()
        self._cancelled(case_id=self.case_id, reason=reason.value, cancelled_on=today)

    @event(Cancelled)
    def _cancelled(self, *, case_id: UUID, reason: str, cancelled_on: date) -> None:
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
    ) -> None:
        self.check_is_announced()
        check_not_in_future("completed_on", completed_on, today)
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
    ) -> None:
        self.status = VisitStatus.COMPLETED
        self.outcome = VisitOutcome(outcome)
        self.completed_on = completed_on
        self.next_step = next_step
