"""Incoming integration events -> commands of the coaching application (pure mapping).

- ``VisitCompleted`` whose next step is a coaching referral, and in which the person
  consented to it: a coaching is requested for the person, with the needs identified
  (they travel only with the consent). Any other visit outcome requests nothing — and
  declining a referral has no consequence here either.

The case directory (who a case is) follows from the contacts events
(:class:`coaching.projections.CaseDirectoryView`).
"""

from __future__ import annotations

from dataclasses import dataclass

from coaching.application import KnownCase
from shared.contracts import Envelope, Payload
from shared.contracts.visits import Need, NextStep, VisitCompleted
from shared.eventsourcing.meta import CommandContext


@dataclass(frozen=True)
class RequestCoachingAfterReferral:
    case: KnownCase
    needs: list[Need]
    ctx: CommandContext


def command_for(envelope: Envelope[Payload]) -> RequestCoachingAfterReferral | None:
    payload = envelope.payload
    if not isinstance(payload, VisitCompleted):
        return None
    if payload.next_step is not NextStep.COACHING_REFERRAL or not payload.coaching_referral_consent:
        return None
    return RequestCoachingAfterReferral(
        case=KnownCase(
            case_id=payload.case_id, subject_id=envelope.subject, district=envelope.district
        ),
        needs=list(payload.needs or []),
        # Recorded by the service on behalf of the outreach worker who made the visit.
        ctx=CommandContext(
            actor=payload.recorded_by,
            role="system",
            correlation_id=envelope.correlation_id,
            causation_id=envelope.event_id,
        ),
    )
