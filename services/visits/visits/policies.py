"""Incoming integration events -> commands of the visits application (pure mapping).

- ``ContactRestored``: the person got in touch (often after the announcement letter), so
  their announced visit is cancelled: "contact_restored_before_visit".
- ``OutreachCaseClosed``: a visit still announced for the case is cancelled ("person_moved"
  when the case closed because the person moved away, "other" otherwise).

Who is on the planning board follows from the same events (``PlanningBoardView``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatch
from typing import Any
from uuid import UUID

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import CaseClosedReason, ContactRestored, OutreachCaseClosed
from shared.contracts.visits import VisitCancelledReason
from shared.eventsourcing.meta import CommandContext

SYSTEM = "system"
"""The actor of what the service does by itself, in reaction to another service's event."""


@dataclass(frozen=True)
class CancelPendingVisit:
    case_id: UUID
    reason: VisitCancelledReason
    ctx: CommandContext


def system_context(envelope: Envelope[Payload]) -> CommandContext:
    """Follows from ``envelope``: same correlation, caused by it, in the current trace."""
    return CommandContext(
        actor=SYSTEM,
        role=SYSTEM,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.event_id,
    )


def command_for(envelope: Envelope[Payload]) -> CancelPendingVisit | None:
    return _command(envelope.payload, envelope)


@singledispatch
def _command(payload: Any, envelope: Envelope[Payload]) -> CancelPendingVisit | None:
    return None


@_command.register
def _(payload: ContactRestored, envelope: Envelope[Payload]) -> CancelPendingVisit | None:
    return CancelPendingVisit(
        case_id=payload.case_id,
        reason=VisitCancelledReason.CONTACT_RESTORED_BEFORE_VISIT,
        ctx=system_context(envelope),
    )


@_command.register
def _(payload: OutreachCaseClosed, envelope: Envelope[Payload]) -> CancelPendingVisit | None:
    moved = payload.reason is CaseClosedReason.MOVED_AWAY
    return CancelPendingVisit(
        case_id=payload.case_id,
        reason=VisitCancelledReason.PERSON_MOVED if moved else VisitCancelledReason.OTHER,
        ctx=system_context(envelope),
    )
