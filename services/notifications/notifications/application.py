"""The notifications application: queue notifications for consumed events (idempotently),
and record the outbox's attempts and their outcomes. Get, call, save.

Who asks is the command's context (the consumed event, the reminder check, the outbox, a
team lead's request); each command says whose notification it changes
(:func:`~shared.eventsourcing.meta.concerning`), so every event records both in its ``meta``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.utils import EnvType

from notifications.domain import (
    Notification,
    NotificationNotFoundError,
    RetryPolicy,
    notification_id_for,
)
from notifications.rendering import TEMPLATES
from shared.contracts.notifications import GivenUpReason, RecipientKind
from shared.eventsourcing.application import ConcurrentChangeError, OutreachApplication
from shared.eventsourcing.meta import CommandContext, command_context, concerning


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class QueueRequest:
    """One notification that follows from an event (made by ``messaging`` and ``reminders``)."""

    source_key: str
    """The integration event id (or a derived id for a scheduled reminder)."""
    source_event_type: str
    template: str
    recipient_kind: RecipientKind
    recipient: str | None
    context: dict[str, Any]
    subject_id: UUID
    district: str

    @property
    def notification_id(self) -> UUID:
        return notification_id_for(self.source_key, self.template)


class Notifications(OutreachApplication):
    name = "notifications"
    concurrent_change = "the notification changed meanwhile"

    def __init__(
        self,
        env: EnvType | None = None,
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(env)
        self.policy = policy or RetryPolicy()
        self.clock = clock

    def queue(self, requests: Sequence[QueueRequest], tracking: Tracking | None = None) -> bool:
        """Queue the notifications that are not queued yet, with ``tracking`` (if given) in
        the same transaction. ``False`` when nothing was new: the event was seen before, or
        each of its notifications exists already (a redelivery, a replay from another
        consumer group, a rebuilt view: nothing is ever queued — or sent — twice)."""
        for _ in range(3):
            existing = self.existing_ids([r.notification_id for r in requests])
            fresh = [self._new(r) for r in requests if r.notification_id not in existing]
            try:
                if tracking is not None:
                    return self.save_tracked(tracking, *fresh)
                if not fresh:
                    return False
                self.save(*fresh)
                return True
            except IntegrityError:
                continue  # queued meanwhile by another writer: look again
        raise ConcurrentChangeError("notifications changed meanwhile; try again")

    def _new(self, request: QueueRequest) -> Notification:
        spec = TEMPLATES[request.template]
        with concerning(request.subject_id, request.district):
            return Notification.queue(
                source_key=request.source_key,
                source_event_type=request.source_event_type,
                channel=spec.channel,
                template=spec.name,
                template_version=spec.version,
                recipient_kind=request.recipient_kind,
                recipient=request.recipient,
                context=request.context,
                queued_at=self.clock(),
            )

    def get_notification(self, notification_id: UUID) -> Notification:
        return self.get(
            Notification,
            notification_id,
            NotificationNotFoundError(f"notification {notification_id} not found"),
        )

    # The outbox's steps (in the outbox's context: ``notifications.outbox``). Each saves at
    # once: an attempt is on record before anything leaves the service, and its outcome
    # right after.

    def start_attempt(self, notification: Notification) -> None:
        with _about(notification):
            notification.start_attempt(now=self.clock())
        self.save_or_conflict(notification)

    def record_sent(
        self,
        notification: Notification,
        *,
        letter: str | None = None,
        print_day: date | None = None,
    ) -> None:
        with _about(notification):
            notification.record_sent(now=self.clock(), letter=letter, print_day=print_day)
        self.save_or_conflict(notification)

    def record_failure(self, notification: Notification, *, error: str, permanent: bool) -> None:
        with _about(notification):
            notification.record_failure(
                error=error, permanent=permanent, now=self.clock(), policy=self.policy
            )
        self.save_or_conflict(notification)

    def record_letter(self, notification: Notification, *, letter: str, print_day: date) -> None:
        """A letter's attempt and outcome in one transaction: it is in the print batch of
        ``print_day`` exactly once, whatever happens to the process."""
        now = self.clock()
        with _about(notification):
            notification.start_attempt(now=now)
            notification.record_sent(now=now, letter=letter, print_day=print_day)
        self.save_or_conflict(notification)

    def record_failed_attempt(
        self, notification: Notification, *, error: str, permanent: bool
    ) -> None:
        """An attempt that failed before anything left the service (e.g. the address is
        not known yet): attempt and failure in one transaction."""
        now = self.clock()
        with _about(notification):
            notification.start_attempt(now=now)
            notification.record_failure(
                error=error, permanent=permanent, now=now, policy=self.policy
            )
        self.save_or_conflict(notification)

    def give_up(self, notification: Notification, *, reason: GivenUpReason, error: str) -> None:
        with _about(notification):
            notification.give_up(reason=reason, error=error)
        self.save_or_conflict(notification)

    def abandon_unconfirmed(self, notification: Notification) -> None:
        with _about(notification):
            notification.abandon_unconfirmed()
        self.save_or_conflict(notification)

    def retry(self, notification_id: UUID) -> Notification:
        """Send it again, requested by who asks (a team lead)."""
        notification = self.get_notification(notification_id)
        with _about(notification):
            notification.retry(requested_by=command_context().actor, now=self.clock())
        self.save_or_conflict(notification)
        return notification


@contextmanager
def _about(notification: Notification) -> Iterator[CommandContext]:
    """The events recorded inside concern the notification's person in its district."""
    with concerning(notification.subject_id, notification.district) as context:
        yield context
