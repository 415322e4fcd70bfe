"""Which outreach figures an integration event counts, in which district and month.

A pure mapping from one event of the product topics to the cells it adds one to. Every
figure is a count of events; the month is the one of the event's own day in Germany:

- ``contacts_lost`` and ``contacts_lost.<reason>``: ``ContactLost``, the day it was reported;
- ``visits_announced``: ``VisitAnnounced`` (a rescheduled visit is no new one), ``announced_on``;
- ``visits_made``; ``visits_reached`` (met and talked, talked at the door, met elsewhere);
  ``coaching_referrals_with_consent``: ``VisitCompleted``, ``completed_on``;
- ``contact_restored`` and ``contact_restored.<channel>``: ``ContactRestored``,
  ``restored_on`` (the channel ``after_announcement_letter`` is "after the letter alone");
- ``coaches_assigned``: ``CoachAssigned``; ``coachings_extended``: ``CoachingExtended``, the
  day it was recorded;
- ``coachings_ended`` and ``coachings_ended.<reason>``: ``CoachingEnded``, ``ended_on``;
- ``programme_enrolments``: ``ProgrammeParticipantEnrolled``, ``enrolled_on``;
  ``programme_completions``: ``ProgrammeParticipationCompleted``, ``completed_on``.

The district is the envelope's (the person's Jobcenter district). Two figures are derived
when the report is read: the reach rate (``visits_reached / visits_made``) and the median
days from the loss of contact to its restoration (:mod:`contacts.reporting.view`).

:data:`RELATIONS` are the sums the published table contains (a total and its parts), and
:data:`AT_MOST` the known bounds between cells; the suppression
(:mod:`contacts.reporting.suppression`) keeps every small cell from being derived through
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from shared.contracts import Envelope, Payload
from shared.contracts.coaching import (
    CoachAssigned,
    CoachingEnded,
    CoachingEndReason,
    CoachingExtended,
    ProgrammeParticipantEnrolled,
    ProgrammeParticipationCompleted,
)
from shared.contracts.contacts import (
    ContactChannel,
    ContactLost,
    ContactLostReason,
    ContactRestored,
)
from shared.contracts.visits import VisitAnnounced, VisitCompleted

GERMANY = ZoneInfo("Europe/Berlin")

LOST = "contacts_lost"
ANNOUNCED = "visits_announced"
MADE = "visits_made"
REACHED = "visits_reached"
RESTORED = "contact_restored"
REFERRALS = "coaching_referrals_with_consent"
ASSIGNED = "coaches_assigned"
EXTENDED = "coachings_extended"
ENDED = "coachings_ended"
ENROLMENTS = "programme_enrolments"
COMPLETIONS = "programme_completions"


def part(total: str, key: str) -> str:
    """The cell of one part of a total: ``contacts_lost.mail_returned``."""
    return f"{total}.{key}"


LOST_BY_REASON = tuple(part(LOST, reason) for reason in ContactLostReason)
RESTORED_BY_CHANNEL = tuple(part(RESTORED, channel) for channel in ContactChannel)
ENDED_BY_REASON = tuple(part(ENDED, reason) for reason in CoachingEndReason)

FIGURES: tuple[str, ...] = (
    LOST,
    *LOST_BY_REASON,
    ANNOUNCED,
    MADE,
    REACHED,
    RESTORED,
    *RESTORED_BY_CHANNEL,
    REFERRALS,
    ASSIGNED,
    EXTENDED,
    ENDED,
    *ENDED_BY_REASON,
    ENROLMENTS,
    COMPLETIONS,
)
"""Every counted figure (a cell of each row of the report), in the order it is shown."""


@dataclass(frozen=True)
class Relation:
    """A total and its parts: ``total = sum(parts)`` holds in every row."""

    total: str
    parts: tuple[str, ...]


RELATIONS: tuple[Relation, ...] = (
    Relation(LOST, LOST_BY_REASON),
    Relation(RESTORED, RESTORED_BY_CHANNEL),
    Relation(ENDED, ENDED_BY_REASON),
)
"""The sums within one row. No cell is in two of them, and no sum over rows (months,
districts) is published."""

AT_MOST: tuple[tuple[str, str], ...] = (
    # A visit that reached the person restores the contact that day (if it was still lost).
    (part(RESTORED, ContactChannel.HOME_VISIT), REACHED),
    (REACHED, MADE),
    (REFERRALS, MADE),
)
"""``(a, b)``: a reader may assume ``a <= b`` within a row."""


COUNTED_EVENTS = frozenset(
    contract.event_type
    for contract in (
        ContactLost,
        ContactRestored,
        VisitAnnounced,
        VisitCompleted,
        CoachAssigned,
        CoachingExtended,
        CoachingEnded,
        ProgrammeParticipantEnrolled,
        ProgrammeParticipationCompleted,
    )
)
"""The event types the figures count (others on the topics are acknowledged and skipped)."""


def month_of(day: date | datetime) -> date:
    """The first day of the month of ``day`` (a moment: of its day in Germany)."""
    if isinstance(day, datetime):
        day = day.astimezone(GERMANY).date()
    return day.replace(day=1)


@dataclass(frozen=True)
class Counted:
    """The cells one event adds one to, in its district and month."""

    district: str
    month: date
    figures: tuple[str, ...]


def counted(envelope: Envelope[Payload]) -> Counted | None:
    """What ``envelope`` counts (``None``: it counts nothing)."""
    payload = envelope.payload
    day: date | datetime = envelope.occurred_at
    figures: tuple[str, ...]
    if isinstance(payload, ContactLost):
        figures = (LOST, part(LOST, payload.reason))
    elif isinstance(payload, VisitAnnounced):
        day, figures = payload.announced_on, (ANNOUNCED,)
    elif isinstance(payload, VisitCompleted):
        day = payload.completed_on
        figures = (
            MADE,
            *((REACHED,) if payload.contact_made else ()),
            *((REFERRALS,) if payload.coaching_referral_consent else ()),
        )
    elif isinstance(payload, ContactRestored):
        day, figures = payload.restored_on, (RESTORED, part(RESTORED, payload.channel))
    elif isinstance(payload, CoachAssigned):
        figures = (ASSIGNED,)
    elif isinstance(payload, CoachingExtended):
        figures = (EXTENDED,)
    elif isinstance(payload, CoachingEnded):
        day, figures = payload.ended_on, (ENDED, part(ENDED, payload.reason))
    elif isinstance(payload, ProgrammeParticipantEnrolled):
        day, figures = payload.enrolled_on, (ENROLMENTS,)
    elif isinstance(payload, ProgrammeParticipationCompleted):
        day, figures = payload.completed_on, (COMPLETIONS,)
    else:
        return None
    return Counted(envelope.district, month_of(day), figures)
