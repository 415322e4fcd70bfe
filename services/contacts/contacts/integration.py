"""Domain events of the contacts service -> integration events on ``outreach.contacts``.

A pure mapping: the relay calls :func:`to_integration_event` for every stored event.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any
from uuid import UUID

from contacts.domain import OutreachCase
from shared.contracts import Envelope, Payload, stable_event_id
from shared.contracts.contacts import (
    ContactDetailsUpdated,
    ContactLost,
    ContactRestored,
    Evidence,
    OutreachCaseClosed,
    SealedPerson,
)
from shared.relay import Outgoing

PRODUCER = "contacts"


def to_integration_event(domain_event: Any) -> Outgoing | None:
    payload = _payload(domain_event)
    if payload is None:
        return None
    meta = domain_event.meta
    causation = meta.get("causation_id")
    # Typed by the payload's own contract (as parse_envelope does): an Envelope[Payload]
    # would serialise its payload as the empty base model with a plain model_dump().
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
    return None  # internal events (e.g. the open-case index) are not published


@_payload.register
def _(e: OutreachCase.ContactLost) -> Payload:
    return ContactLost(
        case_id=e.originator_id,
        local_office=e.local_office,
        person=SealedPerson.model_validate(e.person),
        reason=e.reason,
        evidence=Evidence.model_validate(e.evidence),
        deadline=e.deadline,
        case_manager=e.case_manager,
        reported_by=e.meta["actor"],
    )


@_payload.register
def _(e: OutreachCase.ContactRestored) -> Payload:
    return ContactRestored(
        case_id=e.originator_id,
        channel=e.channel,
        restored_on=e.restored_on,
        case_manager=e.case_manager,
        recorded_by=e.meta["actor"],
    )


@_payload.register
def _(e: OutreachCase.ContactDetailsUpdated) -> Payload:
    return ContactDetailsUpdated(case_id=e.originator_id, updated_by=e.meta["actor"], **e.changes)


@_payload.register
def _(e: OutreachCase.Closed) -> Payload:
    return OutreachCaseClosed(case_id=e.originator_id, reason=e.reason, closed_by=e.meta["actor"])
