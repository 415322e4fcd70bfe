"""Incoming integration events -> commands of the contacts application (pure mapping).

- ``VisitCompleted`` in which the person was reached (met and talked, talked at the door,
  met elsewhere): the contact is restored, through a home visit. Any other outcome changes
  nothing here — not meeting someone, or being refused entry, has no consequence for the
  case (DOMAIN.md, step 3).
- ``CoachAssigned`` and ``CoachingEnded``: a fact in the case's timeline (``CoachingNoted``).
- ``VisitAnnounced``, ``VisitRescheduled``, ``VisitCancelled`` (also the automatic
  cancellation when the person got in touch first) and ``VisitCompleted``: a step in the
  timeline (``VisitNoted``). A visit that did not reach the person says only that: whether
  the person was not met or did not let the team in is not told apart here (it must never
  become a mark on the person).
- The steps of a letter to the person (``NotificationQueued`` for a letter,
  ``NotificationSent``, ``NotificationFailed``, ``NotificationGivenUp``,
  ``NotificationRetryRequested``): a step in the timeline (``LetterNoted``), never its
  content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from contacts.domain import LETTER_QUEUED
from shared.contracts import Envelope, Payload
from shared.contracts.coaching import CoachAssigned, CoachingEnded
from shared.contracts.contacts import ContactChannel
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
from shared.eventsourcing.meta import CommandContext


@dataclass(frozen=True)
class RestoreContactAfterVisit:
    case_id: UUID
    channel: ContactChannel
    restored_on: date
    ctx: CommandContext


def command_for(envelope: Envelope[Payload]) -> RestoreContactAfterVisit | None:
    payload = envelope.payload
    if not isinstance(payload, VisitCompleted) or not payload.outcome.contact_made:
        return None
    return RestoreContactAfterVisit(
        case_id=payload.case_id,
        channel=ContactChannel.HOME_VISIT,
        restored_on=payload.completed_on,
        # Recorded by the service on behalf of who recorded the visit's outcome.
        ctx=CommandContext(
            actor=payload.recorded_by,
            role="system",
            correlation_id=envelope.correlation_id,
            causation_id=envelope.event_id,
        ),
    )


@dataclass(frozen=True)
class NoteCoaching:
    case_id: UUID
    kind: str
    details: dict[str, Any]
    ctx: CommandContext


def coaching_note_for(envelope: Envelope[Payload]) -> NoteCoaching | None:
    """``CoachAssigned`` and ``CoachingEnded`` -> a fact in the case's timeline.

    Only facts: provider, coach and term; or how it ended and how many sessions took place.
    A coaching that ended because the person declined is noted like any other end and
    changes nothing else about the case (§16k SGB II: no sanction, no flag).
    """
    payload = envelope.payload
    ctx = CommandContext(
        actor="system",
        role="system",
        correlation_id=envelope.correlation_id,
        causation_id=envelope.event_id,
    )
    if isinstance(payload, CoachAssigned):
        return NoteCoaching(
            case_id=payload.case_id,
            kind="coach_assigned",
            details={
                "coaching_id": str(payload.coaching_id),
                "provider": payload.provider_name,
                "coach": payload.coach,
                "starts_on": payload.starts_on.isoformat(),
                "ends_on": payload.ends_on.isoformat(),
                "assigned_by": payload.assigned_by,
            },
            ctx=ctx,
        )
    if isinstance(payload, CoachingEnded):
        return NoteCoaching(
            case_id=payload.case_id,
            kind="coaching_ended",
            details={
                "coaching_id": str(payload.coaching_id),
                "reason": payload.reason.value,
                "ended_on": payload.ended_on.isoformat(),
                "sessions_held": payload.sessions_held,
                "ended_by": payload.ended_by,
            },
            ctx=ctx,
        )
    return None


@dataclass(frozen=True)
class NoteStep:
    """A step of a visit or a letter for the case's timeline."""

    kind: str
    details: dict[str, Any]
    ctx: CommandContext


def _system(envelope: Envelope[Payload]) -> CommandContext:
    return CommandContext(
        actor="system",
        role="system",
        correlation_id=envelope.correlation_id,
        causation_id=envelope.event_id,
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


def visit_note_for(envelope: Envelope[Payload]) -> tuple[UUID, NoteStep] | None:
    """A visit's step -> (case, the step for its timeline). Who did it is the recorded
    actor of the step (the system for an automatic cancellation)."""
    payload, ctx = envelope.payload, _system(envelope)
    if isinstance(payload, VisitAnnounced):
        details = {**_announcement(payload), "announced_by": payload.announced_by}
        return payload.case_id, NoteStep("visit_announced", details, ctx)
    if isinstance(payload, VisitRescheduled):
        details = {**_announcement(payload), "rescheduled_by": payload.rescheduled_by}
        return payload.case_id, NoteStep("visit_rescheduled", details, ctx)
    if isinstance(payload, VisitCancelled):
        details = {
            "visit_id": str(payload.visit_id),
            "reason": payload.reason.value,
            "cancelled_on": payload.cancelled_on.isoformat(),
            "cancelled_by": payload.cancelled_by,
            "automatic": payload.cancelled_by == "system",
        }
        return payload.case_id, NoteStep("visit_cancelled", details, ctx)
    if isinstance(payload, VisitCompleted):
        details = {
            "visit_id": str(payload.visit_id),
            "completed_on": payload.completed_on.isoformat(),
            "attempt_number": payload.attempt_number,
            "contact_made": payload.contact_made,
            "recorded_by": payload.recorded_by,
        }
        if payload.contact_made:  # how the person was reached; never how they were not
            details |= {"outcome": payload.outcome.value, "next_step": payload.next_step.value}
        return payload.case_id, NoteStep("visit_made", details, ctx)
    return None


def letter_note_for(envelope: Envelope[Payload]) -> NoteStep | None:
    """A step of a letter to the person -> the step for the timeline (the case is found by
    the person and district: ``Contacts.note_letter``). E-mails to staff are not noted."""
    payload, ctx = envelope.payload, _system(envelope)
    if isinstance(payload, NotificationQueued):
        if payload.channel is not NotificationChannel.LETTER:
            return None
        if payload.recipient_kind is not RecipientKind.PERSON:
            return None
        details: dict[str, Any] = {
            "notification_id": str(payload.notification_id),
            "template": payload.template,
            "follows": payload.source_event_type,
        }
        return NoteStep(LETTER_QUEUED, details, ctx)
    if isinstance(payload, NotificationSent):
        details = {
            "notification_id": str(payload.notification_id),
            "print_day": payload.print_day.isoformat() if payload.print_day else None,
        }
        return NoteStep("letter_sent", details, ctx)
    if isinstance(payload, NotificationFailed):
        details = {
            "notification_id": str(payload.notification_id),
            "attempt": payload.attempt,
            "error": payload.error,
            "next_attempt_at": payload.next_attempt_at.isoformat(),
        }
        return NoteStep("letter_held", details, ctx)
    if isinstance(payload, NotificationGivenUp):
        details = {
            "notification_id": str(payload.notification_id),
            "reason": payload.reason.value,
            "error": payload.error,
        }
        return NoteStep("letter_given_up", details, ctx)
    if isinstance(payload, NotificationRetryRequested):
        details = {
            "notification_id": str(payload.notification_id),
            "requested_by": payload.requested_by,
        }
        return NoteStep("letter_retry_requested", details, ctx)
    return None
