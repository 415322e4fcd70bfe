"""Incoming integration events -> commands of the contacts application (pure mapping).

- ``VisitCompleted`` in which the person was reached (met and talked, talked at the door,
  met elsewhere): the contact is restored, through a home visit. Any other outcome changes
  nothing here — not meeting someone, or being refused entry, has no consequence for the
  case (DOMAIN.md, step 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from shared.contracts import Envelope, Payload
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
