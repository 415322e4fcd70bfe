"""Domain events of the contacts service -> integration events on ``outreach.contacts``.

A pure mapping: the relay calls :func:`to_integration_event` for every stored event.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any
from uuid import UUID

from contacts.domain import Erasure, OutreachCase
from shared.contracts import Envelope, Payload, stable_event_id
from shared.contracts.contacts import (
    ContactDetailsUpdated,
    ContactLost,
    ContactRestored,
    Evidence,
    OutreachCaseClosed,
    SealedPerson,
)
from shared.contracts.erasures import ErasureGround, SubjectErased
from shared.messaging.relay import Outgoing, outgoing

PRODUCER = "contacts"


def to_integration_event(domain_event: Any) -> Outgoing | None:
    return outgoing(PRODUCER, domain_event, _payload(domain_event))


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


def to_erasure_event(domain_event: Any) -> Outgoing | None:
    """The erasure relay's mapping (topic ``outreach.erasures``): a destroyed key becomes
    the ``SubjectErased`` tombstone every service consumes. Nothing else goes there."""
    if not isinstance(domain_event, Erasure.KeyDestroyed):
        return None
    meta = domain_event.meta
    envelope = Envelope[SubjectErased](
        event_id=stable_event_id(
            PRODUCER, domain_event.originator_id, domain_event.originator_version
        ),
        event_type=SubjectErased.event_type,
        schema_version=SubjectErased.schema_version,
        occurred_at=domain_event.timestamp,
        producer=PRODUCER,
        district=meta["district"],
        subject=UUID(meta["subject"]),
        correlation_id=UUID(meta["correlation_id"]),
        causation_id=None,
        payload=SubjectErased(
            erasure_id=domain_event.originator_id,
            ground=ErasureGround(domain_event.ground),
            requested_by=domain_event.requested_by,
            key_destroyed_at=domain_event.destroyed_at,
        ),
    )
    return Outgoing(envelope=envelope, trace=dict(meta.get("trace") or {}))  # type: ignore[arg-type]
