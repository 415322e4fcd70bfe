"""Domain events of the visits service -> integration events on ``outreach.visits``.

A pure mapping: the relay calls :func:`to_integration_event` for every stored event. The
note of a visit is never published; the needs only with the person's consent to a coaching
referral (see ``shared.contracts.visits``).
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from shared.contracts import Payload
from shared.contracts.visits import (
    Need,
    Schedule,
    VisitAnnounced,
    VisitCancelled,
    VisitCompleted,
    VisitOutcome,
    VisitRescheduled,
)
from shared.messaging.relay import Outgoing, outgoing
from visits.domain import Visit

PRODUCER = "visits"


def to_integration_event(domain_event: Any) -> Outgoing | None:
    return outgoing(PRODUCER, domain_event, _payload(domain_event))


@singledispatch
def _payload(domain_event: Any) -> Payload | None:
    return None  # internal events (e.g. the case's visit index) are not published


@_payload.register
def _(e: Visit.Announced) -> Payload:
    return VisitAnnounced(
        visit_id=e.originator_id,
        case_id=e.case_id,
        workers=e.workers,
        schedule=Schedule.model_validate(e.schedule),
        purpose=e.purpose,
        place=e.place,
        place_description=e.place_description,
        announced_on=e.announced_on,
        name=e.name,
        address=e.address,
        announced_by=e.meta["actor"],
    )


@_payload.register
def _(e: Visit.Rescheduled) -> Payload:
    return VisitRescheduled(
        visit_id=e.originator_id,
        case_id=e.case_id,
        workers=e.workers,
        schedule=Schedule.model_validate(e.schedule),
        purpose=e.purpose,
        place=e.place,
        place_description=e.place_description,
        announced_on=e.announced_on,
        name=e.name,
        address=e.address,
        rescheduled_by=e.meta["actor"],
    )


@_payload.register
def _(e: Visit.Cancelled) -> Payload:
    return VisitCancelled(
        visit_id=e.originator_id,
        case_id=e.case_id,
        reason=e.reason,
        cancelled_on=e.cancelled_on,
        cancelled_by=e.meta["actor"],
    )


@_payload.register
def _(e: Visit.Completed) -> Payload:
    consent = e.coaching_referral_consent
    return VisitCompleted(
        visit_id=e.originator_id,
        case_id=e.case_id,
        outcome=e.outcome,
        contact_made=VisitOutcome(e.outcome).contact_made,
        completed_on=e.completed_on,
        attempt_number=e.attempt_number,
        coaching_referral_consent=consent,
        needs=[Need(n) for n in e.needs] if consent else None,
        next_step=e.next_step,
        recorded_by=e.meta["actor"],
    )
