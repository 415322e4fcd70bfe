"""Events published by the visits service (topic ``outreach.visits``).

Purpose limitation: what a subscriber needs to act on a visit, nothing more. The free-text
note of a visit never leaves the visits service; the needs identified travel only when the
person consented to a coaching referral (the hand-over is their purpose). Not meeting the
person, or being refused entry, is an outcome like any other: no event carries a flag or a
consequence for it, and no subscriber may derive one (DOMAIN.md, step 3).
"""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from shared.contracts.envelope import Payload
from shared.privacy import Sealed

VISIT_ID = Field(
    description="The visit (one announcement, possibly rescheduled, and its outcome).",
    examples=["3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"],
)
CASE_ID = Field(
    description="The outreach case of the contacts service the visit belongs to.",
    examples=["9b2e6a10-3c4d-4e5f-8a9b-0c1d2e3f4a5b"],
)


class VisitPurpose(StrEnum):
    FIRST_CONTACT = "first_contact"
    COUNSELLING = "counselling"
    COACHING_MEASURE = "coaching_measure"


class MeetingPlace(StrEnum):
    HOME = "home"
    NEUTRAL_PLACE = "neutral_place"


class VisitCancelledReason(StrEnum):
    CONTACT_RESTORED_BEFORE_VISIT = "contact_restored_before_visit"
    PERSON_MOVED = "person_moved"
    OTHER = "other"


class VisitOutcome(StrEnum):
    MET_AND_TALKED = "met_and_talked"
    TALKED_AT_DOOR = "talked_at_door"
    MET_ELSEWHERE = "met_elsewhere"
    NOT_MET = "not_met"
    ENTRY_REFUSED = "entry_refused"

    @property
    def contact_made(self) -> bool:
        return self in CONTACT_MADE


CONTACT_MADE = frozenset(
    {VisitOutcome.MET_AND_TALKED, VisitOutcome.TALKED_AT_DOOR, VisitOutcome.MET_ELSEWHERE}
)
"""The outcomes in which the person was reached: the contact is restored."""


class Need(StrEnum):
    DEBT = "debt"
    THREATENED_LOSS_OF_HOUSING = "threatened_loss_of_housing"
    HEALTH = "health"
    PSYCHOSOCIAL_CARE = "psychosocial_care"
    CORRESPONDENCE = "correspondence"
    ACCOMPANYING_TO_AUTHORITIES = "accompanying_to_authorities"
    CHILDCARE = "childcare"
    ADDICTION = "addiction"
    OTHER = "other"


class NextStep(StrEnum):
    NONE = "none"
    REVISIT = "revisit"
    COACHING_REFERRAL = "coaching_referral"
    HANDOVER_TO_CASE_MANAGER = "handover_to_case_manager"


LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?$"
"""``HH:MM:SS`` (optionally with a fraction of a second), without an offset."""


def local_wall_clock(value: time) -> time:
    """``value`` if it has no offset (a time of a visit in Germany); an error otherwise."""
    if value.tzinfo is not None:
        raise ValueError("a local wall-clock time in Germany, without an offset")
    return value


LocalTime = Annotated[
    time,
    AfterValidator(local_wall_clock),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": LOCAL_TIME_PATTERN,
            "description": "A wall-clock time in Germany (Europe/Berlin, as on the letter), "
            "HH:MM:SS without an offset. Not an RFC 3339 time: the visit is at this hour on "
            "the given day whatever the UTC offset of that day is.",
            "examples": ["09:00:00"],
        }
    ),
]
"""A local time of day: ``"09:00:00"`` in the JSON, declared by a pattern, not by
``format: time`` (which, as RFC 3339 ``full-time``, requires an offset and would make every
strict validator reject the data). The data of v1 has always been written this way."""


class Schedule(BaseModel):
    """When the visit takes place: one day (with an optional time slot) or a window of days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_day: date = Field(description="First day of the window.", examples=["2026-12-01"])
    last_day: date = Field(
        description="Last day of the window (the same as first_day for a single date).",
        examples=["2026-12-03"],
    )
    time_from: LocalTime | None = Field(
        default=None,
        description="Start of the time slot (single date only), local time in Germany.",
        examples=["09:00:00", None],
    )
    time_to: LocalTime | None = Field(
        default=None,
        description="End of the time slot (single date only), local time in Germany.",
        examples=["11:30:00", None],
    )


class Announcement(Payload):
    """What an announcement letter needs (shared by announced and rescheduled visits)."""

    visit_id: UUID = VISIT_ID
    case_id: UUID = CASE_ID
    workers: list[str] = Field(
        min_length=1,
        max_length=2,
        description="User ids of the one or two outreach workers who will come.",
        examples=[["ow-yilmaz", "ow-becker"]],
    )
    schedule: Schedule
    purpose: VisitPurpose = Field(examples=["first_contact"])
    place: MeetingPlace = Field(examples=["home"])
    place_description: Sealed | None = Field(
        default=None, description="Where a neutral place is (sealed); absent for a home visit."
    )
    announced_on: date = Field(description="The day the letter goes out.", examples=["2026-11-23"])
    name: Sealed = Field(description="The person's name for the letter (sealed).")
    address: Sealed = Field(description="The postal address the letter goes to (sealed).")


class VisitAnnounced(Announcement):
    """A visit was planned and the person is told in writing who comes, when and why."""

    event_type = "VisitAnnounced"

    announced_by: str = Field(examples=["ow-yilmaz"])


class VisitRescheduled(Announcement):
    """The visit moved: a new announcement letter with the new date or window."""

    event_type = "VisitRescheduled"

    rescheduled_by: str = Field(examples=["ow-yilmaz"])


class VisitCancelled(Payload):
    """The visit will not take place."""

    event_type = "VisitCancelled"

    visit_id: UUID = VISIT_ID
    case_id: UUID = CASE_ID
    reason: VisitCancelledReason = Field(examples=["contact_restored_before_visit"])
    cancelled_on: date = Field(examples=["2026-11-25"])
    cancelled_by: str = Field(description="User id, or 'system' for an automatic cancellation.")


class VisitCompleted(Payload):
    """The outcome of a visit was recorded."""

    event_type = "VisitCompleted"

    visit_id: UUID = VISIT_ID
    case_id: UUID = CASE_ID
    outcome: VisitOutcome = Field(examples=["met_and_talked"])
    contact_made: bool = Field(
        description="The person was reached (met and talked, talked at the door, met elsewhere).",
        examples=[True],
    )
    completed_on: date = Field(description="The day of the visit.", examples=["2026-12-02"])
    attempt_number: int = Field(
        ge=1, description="The how-many-th completed visit of this case this is.", examples=[1]
    )
    coaching_referral_consent: bool = Field(
        description="The person agreed to be referred to a coach.", examples=[False]
    )
    needs: list[Need] | None = Field(
        default=None,
        description="Needs identified; only present when the person consented to a coaching "
        "referral (purpose limitation).",
        examples=[None],
    )
    next_step: NextStep = Field(examples=["none"])
    recorded_by: str = Field(examples=["ow-yilmaz"])


EVENTS: tuple[type[Payload], ...] = (
    VisitAnnounced,
    VisitRescheduled,
    VisitCancelled,
    VisitCompleted,
)
