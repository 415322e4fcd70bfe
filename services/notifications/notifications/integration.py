"""Domain events of the notifications service -> integration events on
``outreach.notifications`` (pure mapping, called by the relay).

Published are the facts of a notification's life, never its content: no letter, no
address, no e-mail text.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any
from uuid import UUID

from notifications.domain import Notification
from shared.contracts import Envelope, Payload, stable_event_id
from shared.contracts.notifications import (
    NotificationFailed,
    NotificationGivenUp,
    NotificationQueued,
    NotificationRetryRequested,
    NotificationSent,
)
from shared.relay import Outgoing

PRODUCER = "notifications"


def to_integration_event(domain_event: Any) -> Outgoing | None:
    payload = _payload(domain_event)
    if payload is None:
        return None
    meta = domain_event.meta
    causation = meta.get("causation_id")
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
    return None  # an attempt started is internal: its outcome is what is published


@_payload.register
def _(e: Notification.Queued) -> Payload:
    return NotificationQueued(
        notification_id=e.originator_id,
        idempotency_key=e.idempotency_key,
        channel=e.channel,
        template=e.template,
        template_version=e.template_version,
        recipient_kind=e.recipient_kind,
        recipient=e.recipient,
        source_event_id=UUID(e.source_event_id),
        source_event_type=e.source_event_type,
    )


@_payload.register
def _(e: Notification.Sent) -> Payload:
    return NotificationSent(
        notification_id=e.originator_id,
        idempotency_key=e.idempotency_key,
        channel=e.channel,
        attempt=e.attempt,
        sent_at=e.sent_at,
        print_day=e.print_day,
    )


@_payload.register
def _(e: Notification.Failed) -> Payload:
    return NotificationFailed(
        notification_id=e.originator_id,
        attempt=e.attempt,
        error=e.error,
        next_attempt_at=e.next_attempt_at,
    )


@_payload.register
def _(e: Notification.GivenUp) -> Payload:
    return NotificationGivenUp(
        notification_id=e.originator_id, attempts=e.attempts, reason=e.reason, error=e.error
    )


@_payload.register
def _(e: Notification.RetryRequested) -> Payload:
    return NotificationRetryRequested(notification_id=e.originator_id, requested_by=e.requested_by)
