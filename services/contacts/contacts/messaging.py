"""What the contacts service does with the events of other services (the shared consumer
pattern, ``shared.messaging.consumer``: batches, de-duplication, dead letters). Each
``on_<event>`` handler calls one application method, whose effect is saved with the
consumer's tracking record in one transaction (a redelivered event changes nothing). What it
records, the service records, caused by the message (the consumer's command context), or on
behalf of who the message names (:func:`~shared.eventsourcing.meta.on_behalf_of`).

From ``outreach.visits``:

- ``<prefix>-visit-outcomes``: a visit in which the person was reached (met and talked,
  talked at the door, met elsewhere) restores the contact through a home visit
  (:func:`on_visit_completed`). Any other outcome changes nothing here — not meeting
  someone, or being refused entry, has no consequence for the case (DOMAIN.md, step 3).
- ``<prefix>-visit-steps``: a visit announced, rescheduled, cancelled (also the automatic
  cancellation when the person got in touch first) or made becomes a ``VisitNoted`` step of
  the case's timeline. A visit that did not reach the person says only that: whether the
  person was not met or did not let the team in is not told apart (:func:`visit_made`).

From ``outreach.coaching``: ``<prefix>-coaching-notes``: a coach assigned or a coaching
ended becomes a ``CoachingNoted`` step of the case's timeline.

From ``outreach.notifications``: ``<prefix>-letters``: the steps of a letter to the person
(queued, held and why, sent, given up, retried) become ``LetterNoted`` steps, never its
content; e-mails to staff are not noted.

From ``outreach.erasures``: ``<prefix>-erasure-confirmations``: each service's
``SubjectErasureConfirmed`` goes into the erasure's certificate.

(The ``SubjectErased`` consumer that forgets the person in this service's own views is the
one every service has, :mod:`shared.erasure`; the feeds' consumers are
:mod:`contacts.feeds`.) ``<prefix>`` is the service's deployment name: the consumer groups
and the prefix of their tracking records belong with the database their effects are stored in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from contacts.application import Contacts
from contacts.domain import LETTER_QUEUED
from shared.contracts import ERASURE_TOPIC, Envelope, topic_of
from shared.contracts.coaching import CoachAssigned, CoachingEnded
from shared.contracts.contacts import ContactChannel
from shared.contracts.erasures import SubjectErasureConfirmed
from shared.contracts.notifications import (
    NotificationChannel,
    NotificationFailed,
    NotificationGivenUp,
    NotificationQueued,
    NotificationRetryRequested,
    NotificationSent,
    RecipientKind,
)
from shared.contracts.visits import (
    Announcement,
    VisitAnnounced,
    VisitCancelled,
    VisitCompleted,
    VisitRescheduled,
)
from shared.eventsourcing.meta import SYSTEM, on_behalf_of
from shared.messaging.consumer import Consumer
from shared.messaging.handlers import ConsumerGroup

VISITS = topic_of("visits")
COACHING = topic_of("coaching")
NOTIFICATIONS = topic_of("notifications")

CaseOf = Callable[[UUID, str], UUID | None]
"""The case a letter to a person of a district is about (their open case there, else their
latest): the notifications' events name the person and the district, not the case."""


@dataclass(frozen=True)
class CaseLetters:
    """What the letter steps act on: the application, and the case a letter belongs to."""

    contacts: Contacts
    case_of: CaseOf


# --- visit outcomes --------------------------------------------------------------------

visit_outcomes = ConsumerGroup[Contacts](
    "visit-outcomes",
    topic=VISITS,
    description="A visit that reached the person restores the contact (home visit).",
)


@visit_outcomes.on(VisitCompleted)
def on_visit_completed(
    contacts: Contacts, event: Envelope[VisitCompleted], tracking: Tracking
) -> bool:
    """A visit that reached the person restores the contact, recorded by the service on
    behalf of who recorded the outcome; any other outcome is only tracked."""
    payload = event.payload
    if not payload.outcome.contact_made:
        return contacts.save_tracked(tracking)
    with on_behalf_of(payload.recorded_by):
        return contacts.restore_contact_after_visit(
            payload.case_id,
            channel=ContactChannel.HOME_VISIT,
            restored_on=payload.completed_on,
            tracking=tracking,
        )


# --- coaching notes ----------------------------------------------------------------------

coaching_notes = ConsumerGroup[Contacts](
    "coaching-notes",
    topic=COACHING,
    description="Coach assigned and coaching ended, in the case's timeline.",
)


@coaching_notes.on(CoachAssigned)
def on_coach_assigned(
    contacts: Contacts, event: Envelope[CoachAssigned], tracking: Tracking
) -> bool:
    """Only facts: provider, coach and term."""
    payload = event.payload
    details = {
        "coaching_id": str(payload.coaching_id),
        "provider": payload.provider_name,
        "coach": payload.coach,
        "starts_on": payload.starts_on.isoformat(),
        "ends_on": payload.ends_on.isoformat(),
        "assigned_by": payload.assigned_by,
    }
    return contacts.note_coaching(
        payload.case_id,
        kind="coach_assigned",
        details=details,
        tracking=tracking,
    )


@coaching_notes.on(CoachingEnded)
def on_coaching_ended(
    contacts: Contacts, event: Envelope[CoachingEnded], tracking: Tracking
) -> bool:
    """How it ended and how many sessions took place. A coaching that ended because the
    person declined is noted like any other end and changes nothing else about the case
    (§16k SGB II: no sanction, no flag)."""
    payload = event.payload
    details = {
        "coaching_id": str(payload.coaching_id),
        "reason": payload.reason.value,
        "ended_on": payload.ended_on.isoformat(),
        "sessions_held": payload.sessions_held,
        "ended_by": payload.ended_by,
    }
    return contacts.note_coaching(
        payload.case_id,
        kind="coaching_ended",
        details=details,
        tracking=tracking,
    )


# --- visit steps ---------------------------------------------------------------------------

visit_steps = ConsumerGroup[Contacts](
    "visit-steps",
    topic=VISITS,
    description="Every step of a visit, in the case's timeline.",
)


def _announcement(payload: Announcement) -> dict[str, Any]:
    return {
        "visit_id": str(payload.visit_id),
        "schedule": payload.schedule.model_dump(mode="json"),
        "workers": list(payload.workers),
        "purpose": payload.purpose.value,
        "place": payload.place.value,
        "announced_on": payload.announced_on.isoformat(),
    }


def visit_cancelled(payload: VisitCancelled) -> dict[str, Any]:
    """The timeline step of a cancelled visit: ``automatic`` when the visits service
    cancelled it (the person got in touch first)."""
    return {
        "visit_id": str(payload.visit_id),
        "reason": payload.reason.value,
        "cancelled_on": payload.cancelled_on.isoformat(),
        "cancelled_by": payload.cancelled_by,
        "automatic": payload.cancelled_by == SYSTEM,
    }


def visit_made(payload: VisitCompleted) -> dict[str, Any]:
    """The timeline step of a visit made: how the person was reached when they were;
    nothing that tells "not met" from "entry refused" when they were not."""
    details: dict[str, Any] = {
        "visit_id": str(payload.visit_id),
        "completed_on": payload.completed_on.isoformat(),
        "attempt_number": payload.attempt_number,
        "contact_made": payload.contact_made,
        "recorded_by": payload.recorded_by,
    }
    if payload.contact_made:
        details |= {"outcome": payload.outcome.value, "next_step": payload.next_step.value}
    return details


def _note_visit(
    contacts: Contacts, event: Envelope[Any], tracking: Tracking, kind: str, details: dict[str, Any]
) -> bool:
    return contacts.note_visit(event.payload.case_id, kind=kind, details=details, tracking=tracking)


@visit_steps.on(VisitAnnounced)
def on_visit_announced(
    contacts: Contacts, event: Envelope[VisitAnnounced], tracking: Tracking
) -> bool:
    details = {**_announcement(event.payload), "announced_by": event.payload.announced_by}
    return _note_visit(contacts, event, tracking, "visit_announced", details)


@visit_steps.on(VisitRescheduled)
def on_visit_rescheduled(
    contacts: Contacts, event: Envelope[VisitRescheduled], tracking: Tracking
) -> bool:
    details = {**_announcement(event.payload), "rescheduled_by": event.payload.rescheduled_by}
    return _note_visit(contacts, event, tracking, "visit_rescheduled", details)


@visit_steps.on(VisitCancelled)
def on_visit_cancelled(
    contacts: Contacts, event: Envelope[VisitCancelled], tracking: Tracking
) -> bool:
    return _note_visit(contacts, event, tracking, "visit_cancelled", visit_cancelled(event.payload))


@visit_steps.on(VisitCompleted)
def on_visit_made(contacts: Contacts, event: Envelope[VisitCompleted], tracking: Tracking) -> bool:
    return _note_visit(contacts, event, tracking, "visit_made", visit_made(event.payload))


# --- letters -------------------------------------------------------------------------------

letters = ConsumerGroup[CaseLetters](
    "letters",
    topic=NOTIFICATIONS,
    description="Every step of a letter to the person, in the case's timeline.",
)


def _note_letter(
    letters: CaseLetters, event: Envelope[Any], tracking: Tracking, kind: str, **details: Any
) -> bool:
    """The step on the person's case in the event's district (the application keeps the
    later steps to the case that noted the letter queued)."""
    return letters.contacts.note_letter(
        letters.case_of(event.subject, event.district),
        kind=kind,
        details={"notification_id": str(event.payload.notification_id), **details},
        tracking=tracking,
    )


@letters.on(NotificationQueued)
def on_notification_queued(
    letters: CaseLetters, event: Envelope[NotificationQueued], tracking: Tracking
) -> bool:
    """A letter to the person is queued (an e-mail, or a letter to staff, is only tracked)."""
    payload = event.payload
    if payload.channel is not NotificationChannel.LETTER:
        return letters.contacts.save_tracked(tracking)
    if payload.recipient_kind is not RecipientKind.PERSON:
        return letters.contacts.save_tracked(tracking)
    return _note_letter(
        letters,
        event,
        tracking,
        LETTER_QUEUED,
        template=payload.template,
        follows=payload.source_event_type,
    )


@letters.on(NotificationSent)
def on_notification_sent(
    letters: CaseLetters, event: Envelope[NotificationSent], tracking: Tracking
) -> bool:
    day = event.payload.print_day
    return _note_letter(
        letters, event, tracking, "letter_sent", print_day=day.isoformat() if day else None
    )


@letters.on(NotificationFailed)
def on_notification_failed(
    letters: CaseLetters, event: Envelope[NotificationFailed], tracking: Tracking
) -> bool:
    """Held, and why (e.g. ``letterhead_missing``, ``staff_unknown``)."""
    payload = event.payload
    return _note_letter(
        letters,
        event,
        tracking,
        "letter_held",
        attempt=payload.attempt,
        error=payload.error,
        next_attempt_at=payload.next_attempt_at.isoformat(),
    )


@letters.on(NotificationGivenUp)
def on_notification_given_up(
    letters: CaseLetters, event: Envelope[NotificationGivenUp], tracking: Tracking
) -> bool:
    payload = event.payload
    return _note_letter(
        letters,
        event,
        tracking,
        "letter_given_up",
        reason=payload.reason.value,
        error=payload.error,
    )


@letters.on(NotificationRetryRequested)
def on_notification_retry_requested(
    letters: CaseLetters, event: Envelope[NotificationRetryRequested], tracking: Tracking
) -> bool:
    requested_by = event.payload.requested_by
    return _note_letter(
        letters, event, tracking, "letter_retry_requested", requested_by=requested_by
    )


# --- erasure confirmations -----------------------------------------------------------------

erasure_confirmations = ConsumerGroup[Contacts](
    "erasure-confirmations",
    topic=ERASURE_TOPIC,
    description="Each service's confirmation, in the erasure certificate.",
)


@erasure_confirmations.on(SubjectErasureConfirmed)
def on_subject_erasure_confirmed(
    contacts: Contacts, event: Envelope[SubjectErasureConfirmed], tracking: Tracking
) -> bool:
    """Recorded on behalf of the confirming service (deployment)."""
    payload = event.payload
    with on_behalf_of(f"service:{payload.deployment}"):
        return contacts.record_erasure_confirmation(
            payload.erasure_id,
            service=payload.service,
            deployment=payload.deployment,
            confirmed_at=payload.confirmed_at,
            tracking=tracking,
        )


def consumers(contacts: Contacts, *, case_of: CaseOf, prefix: str) -> list[Consumer]:
    """The consumers of the contacts service, named ``<prefix>-<group>``."""
    return [
        visit_outcomes.consumer(contacts, prefix=prefix),
        coaching_notes.consumer(contacts, prefix=prefix),
        visit_steps.consumer(contacts, prefix=prefix),
        letters.consumer(CaseLetters(contacts, case_of), prefix=prefix),
        erasure_confirmations.consumer(contacts, prefix=prefix),
    ]
