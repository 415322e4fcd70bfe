"""Incoming integration events -> commands of the contacts application (pure mapping).

- ``VisitCompleted`` in which the person was reached (met and talked, talked at the door,
  met elsewhere): the contact is restored, through a home visit. Any other outcome changes
  nothing here — not meeting someone, or being refused entry, has no consequence for the
  case (DOMAIN.md, step 3).
- ``CoachAssigned`` and ``CoachingEnded``: a fact in the case's timeline (``CoachingNoted``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from shared.contracts import Envelope, Payload
from shared.contracts.coaching import CoachAssigned, CoachingEnded
from shared.contracts.contacts import ContactChannel
from shared.contracts.visits import VisitCompleted
from shared.eventstore import CommandContext


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
