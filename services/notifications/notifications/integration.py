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
from shared.contracts import Payload
from shared.contracts.notifications import (
    NotificationFailed,
    NotificationGivenUp,
    NotificationQueued,
    NotificationRetryRequested,
    NotificationSent,
)
from shared.messaging.relay import Outgoing, outgoing

PRODUCER = "notifications"


def to_integration_event(domain_event: Any) -> Outgoing | None:
    return outgoing(PRODUCER, domain_event, _payload(domain_event))


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
