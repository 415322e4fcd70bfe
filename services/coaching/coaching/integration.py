"""Domain events of the coaching service -> integration events on ``outreach.coaching``.

A pure mapping: the relay calls :func:`to_integration_event` for every stored event.
Published: ``CoachingRequested``, ``CoachAssigned``, ``CoachingExtended``,
``CoachingEnded``. Internal (no other service needs them, and the provider's work stays with
the provider): the registry of providers and coaches, the places on a coach's caseload,
sessions held, household members, partner referrals, group programmes.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any
from uuid import UUID

from coaching.domain import Coaching
from shared.contracts import Envelope, Payload, stable_event_id
from shared.contracts.coaching import (
    CoachAssigned,
    CoachingEnded,
    CoachingExtended,
    CoachingRequested,
)
from shared.relay import Outgoing

PRODUCER = "coaching"


def to_integration_event(domain_event: Any) -> Outgoing | None:
    payload = _payload(domain_event)
    if payload is None:
        return None
    meta = domain_event.meta
    causation = meta.get("causation_id")
    # Typed by the payload's own contract, so the payload serialises with its fields.
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    envelope: Envelope[Payload] = contract(
        event_id=stable_event_id(
            PRODUCER, domain_event.originator_id, domain_event.originator_version
        ),
        event_type=payload.event_type,
        schema_version=payload.schema_version,
        occurred_at=domain_event.timestamp,
        producer=PRODUCER,
        district=meta["district"],
        subject=UUID(meta["subject"]),
        correlation_id=UUID(meta["correlation_id"]),
        causation_id=UUID(causation) if causation else None,
        payload=payload,
    )
    return Outgoing(envelope=envelope, trace=dict(meta.get("trace") or {}))


@singledispatch
def _payload(domain_event: Any) -> Payload | None:
    return None


@_payload.register
def _(e: Coaching.Requested) -> Payload:
    return CoachingRequested(
        coaching_id=e.originator_id,
        case_id=e.case_id,
        source=e.source,
        needs=e.needs,
        requested_on=e.requested_on,
        requested_by=e.meta["actor"],
    )


@_payload.register
def _(e: Coaching.CoachAssigned) -> Payload:
    return CoachAssigned(
        coaching_id=e.originator_id,
        case_id=e.case_id,
        provider_id=e.provider_id,
        provider_name=e.provider_name,
        coach=e.coach,
        starts_on=e.starts_on,
        ends_on=e.ends_on,
        assigned_by=e.meta["actor"],
    )


@_payload.register
def _(e: Coaching.Extended) -> Payload:
    return CoachingExtended(
        coaching_id=e.originator_id,
        case_id=e.case_id,
        ends_on=e.ends_on,
        reason=e.reason,
        extension_number=e.extension_number,
        extended_by=e.meta["actor"],
    )


@_payload.register
def _(e: Coaching.Ended) -> Payload:
    return CoachingEnded(
        coaching_id=e.originator_id,
        case_id=e.case_id,
        reason=e.reason,
        ended_on=e.ended_on,
        sessions_held=e.sessions_held,
        ended_by=e.meta["actor"],
    )
