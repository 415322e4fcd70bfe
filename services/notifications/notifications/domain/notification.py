"""One notification (a letter, an e-mail, a text message) and its life: queued, attempt
started, sent, failed (retried with exponential back-off), given up, retried by staff.

No I/O here. The identity of a notification is derived from the event it follows from and
the template (:func:`~notifications.domain.values.notification_id_for`), so the same event
can never queue it twice: a second ``Queued`` collides in the event store. Times are passed
in by the application.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from notifications.domain.errors import (
    NotificationNotDueError,
    NotificationNotRetryableError,
    NotificationNotSendingError,
)
from notifications.domain.values import (
    RetryPolicy,
    Status,
    idempotency_key,
    notification_id_for,
)
from shared.contracts.notifications import GivenUpReason, NotificationChannel, RecipientKind
from shared.eventsourcing.meta import AuditedEvent


class Notification(Aggregate):
    """A letter, an e-mail or a text message that follows from one event.

    Each event records who caused it (``meta``, from the command's context: see
    ``shared.eventsourcing.meta``); whose notification it is (the person, the district) and
    the correlation of the event it follows from are those of ``Queued``. Each event's
    ``TOPIC`` is the name it is stored under: the projection selects the log by it and stored
    events resolve to their classes by it, so it stays when the class moves.
    """

    class Event(AuditedEvent):
        pass

    class Queued(Event, Aggregate.Created):
        TOPIC = "notifications.domain:Notification.Queued"

        idempotency_key: str
        channel: str
        template: str
        template_version: int
        recipient_kind: str
        recipient: str | None
        source_event_id: str
        source_event_type: str
        context: dict[str, Any]
        queued_at: datetime

        def apply(self, aggregate: Notification) -> None:
            aggregate.district = self.meta["district"]
            aggregate.subject_id = UUID(self.meta["subject"])
            aggregate.correlation_id = UUID(self.meta["correlation_id"])

    class AttemptStarted(Event):
        TOPIC = "notifications.domain:Notification.AttemptStarted"

        attempt: int
        started_at: datetime

    class Sent(Event):
        TOPIC = "notifications.domain:Notification.Sent"

        idempotency_key: str
        channel: str
        attempt: int
        sent_at: datetime
        print_day: date | None
        letter: str | None
        """For a letter: its rendered content, sealed with the person's key."""

    class Failed(Event):
        TOPIC = "notifications.domain:Notification.Failed"

        attempt: int
        error: str
        next_attempt_at: datetime

    class GivenUp(Event):
        TOPIC = "notifications.domain:Notification.GivenUp"

        attempts: int
        reason: str
        error: str

    class RetryRequested(Event):
        TOPIC = "notifications.domain:Notification.RetryRequested"

        requested_by: str
        requested_at: datetime

    @classmethod
    def queue(
        cls,
        *,
        source_key: str,
        source_event_type: str,
        channel: NotificationChannel,
        template: str,
        template_version: int,
        recipient_kind: RecipientKind,
        recipient: str | None,
        context: dict[str, Any],
        queued_at: datetime,
    ) -> Notification:
        return cls(
            id=notification_id_for(source_key, template),
            idempotency_key=idempotency_key(source_key, template, template_version),
            channel=channel.value,
            template=template,
            template_version=template_version,
            recipient_kind=recipient_kind.value,
            recipient=recipient,
            source_event_id=source_key,
            source_event_type=source_event_type,
            context=context,
            queued_at=queued_at,
        )

    @event(Queued)
    def __init__(
        self,
        *,
        id: UUID,
        idempotency_key: str,
        channel: str,
        template: str,
        template_version: int,
        recipient_kind: str,
        recipient: str | None,
        source_event_id: str,
        source_event_type: str,
        context: dict[str, Any],
        queued_at: datetime,
    ) -> None:
        self.idempotency_key = idempotency_key
        self.channel = NotificationChannel(channel)
        self.template = template
        self.template_version = template_version
        self.recipient_kind = RecipientKind(recipient_kind)
        self.recipient = recipient
        self.source_event_id = source_event_id
        self.source_event_type = source_event_type
        self.context = dict(context)
        # Whose it is and which correlation it follows: the meta of ``Queued`` (its apply).
        self.district: str
        self.subject_id: UUID
        self.correlation_id: UUID
        self.status = Status.QUEUED
        self.attempts = 0
        self.attempts_before_retry = 0
        self.next_attempt_at: datetime | None = None
        self.last_error: str | None = None
        self.letter: str | None = None
        self.print_day: date | None = None

    def is_due(self, now: datetime) -> bool:
        if self.status is Status.QUEUED:
            return True
        return (
            self.status is Status.FAILED
            and self.next_attempt_at is not None
            and self.next_attempt_at <= now
        )

    def check_is_due(self, now: datetime) -> None:
        if not self.is_due(now):
            raise NotificationNotDueError(
                f"notification {self.id} is {self.status.value}, not due",
                status=self.status.value,
            )

    def check_is_sending(self) -> None:
        if self.status is not Status.SENDING:
            raise NotificationNotSendingError(
                f"notification {self.id} has no attempt under way", status=self.status.value
            )

    def start_attempt(self, *, now: datetime) -> None:
        """Recorded *before* anything leaves the service (see the README: the crash window)."""
        self.check_is_due(now)
        self._attempt_started(attempt=self.attempts + 1, started_at=now)

    @event(AttemptStarted)
    def _attempt_started(self, *, attempt: int, started_at: datetime) -> None:
        self.status = Status.SENDING
        self.attempts = attempt

    def record_sent(
        self,
        *,
        now: datetime,
        print_day: date | None = None,
        letter: str | None = None,
    ) -> None:
        self.check_is_sending()
        self._sent(
            idempotency_key=self.idempotency_key,
            channel=self.channel.value,
            attempt=self.attempts,
            sent_at=now,
            print_day=print_day,
            letter=letter,
        )

    @event(Sent)
    def _sent(
        self,
        *,
        idempotency_key: str,
        channel: str,
        attempt: int,
        sent_at: datetime,
        print_day: date | None,
        letter: str | None,
    ) -> None:
        self.status = Status.SENT
        self.letter = letter
        self.print_day = print_day
        self.next_attempt_at = None

    def record_failure(
        self, *, error: str, permanent: bool, now: datetime, policy: RetryPolicy
    ) -> None:
        """A failed attempt: retried after the back-off, or given up when it cannot succeed
        (``permanent``) or the attempts since the last staff retry are used up."""
        self.check_is_sending()
        if permanent:
            self.give_up(reason=GivenUpReason.PERMANENT_FAILURE, error=error)
        elif self.attempts - self.attempts_before_retry >= policy.max_attempts:
            self.give_up(reason=GivenUpReason.ATTEMPTS_EXHAUSTED, error=error)
        else:
            self._failed(
                attempt=self.attempts,
                error=error,
                next_attempt_at=now + policy.delay(self.attempts - self.attempts_before_retry),
            )

    @event(Failed)
    def _failed(self, *, attempt: int, error: str, next_attempt_at: datetime) -> None:
        self.status = Status.FAILED
        self.last_error = error
        self.next_attempt_at = next_attempt_at

    def give_up(self, *, reason: GivenUpReason, error: str) -> None:
        if self.status in (Status.SENT, Status.GIVEN_UP):
            raise NotificationNotRetryableError(
                f"notification {self.id} is {self.status.value} already", status=self.status.value
            )
        self._given_up(attempts=self.attempts, reason=reason.value, error=error)

    @event(GivenUp)
    def _given_up(self, *, attempts: int, reason: str, error: str) -> None:
        self.status = Status.GIVEN_UP
        self.given_up_reason = GivenUpReason(reason)
        self.last_error = error
        self.next_attempt_at = None

    def abandon_unconfirmed(self) -> None:
        """An attempt whose outcome was never recorded (the service stopped while sending).

        It may have reached the recipient, so it is not sent again by itself (at most once
        towards people); staff see it as given up and may retry it deliberately.
        """
        self.check_is_sending()
        self.give_up(
            reason=GivenUpReason.DELIVERY_UNCONFIRMED,
            error=f"attempt {self.attempts} started but its outcome was not recorded",
        )

    def retry(self, *, requested_by: str, now: datetime) -> None:
        if self.status not in (Status.FAILED, Status.GIVEN_UP):
            raise NotificationNotRetryableError(
                f"only failed or given-up notifications can be retried; this one is "
                f"{self.status.value}",
                notification_status=self.status.value,
            )
        self._retry_requested(requested_by=requested_by, requested_at=now)

    @event(RetryRequested)
    def _retry_requested(self, *, requested_by: str, requested_at: datetime) -> None:
        self.status = Status.QUEUED
        self.attempts_before_retry = self.attempts
        self.next_attempt_at = None
