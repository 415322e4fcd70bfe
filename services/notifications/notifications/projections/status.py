"""The status of every notification (``notification_status``, a projection of the service's
own event log): for the API and the outbox, and the sealed letters of the print batches.

A rebuild of this view recomputes rows only; it never sends anything (sending is the
outbox's job, decided by the aggregate's own state).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic
from psycopg.rows import DictRow

from notifications.domain import Notification, Status
from shared.eventsourcing.views import TrackedView

NOTIFICATION_TOPICS = tuple(
    get_topic(event)
    for event in (
        Notification.Queued,
        Notification.AttemptStarted,
        Notification.Sent,
        Notification.Failed,
        Notification.GivenUp,
        Notification.RetryRequested,
    )
)
"""The events of a notification, as stored (each event's ``TOPIC``): what the view follows."""


class NotificationsView(TrackedView):
    schema = (
        """CREATE TABLE IF NOT EXISTS notifications (
            notification_id uuid PRIMARY KEY,
            district text NOT NULL,
            subject_id uuid NOT NULL,
            channel text NOT NULL,
            template text NOT NULL,
            template_version int NOT NULL,
            idempotency_key text NOT NULL UNIQUE,
            recipient_kind text NOT NULL,
            recipient text,
            source_event_id text NOT NULL,
            source_event_type text NOT NULL,
            status text NOT NULL,
            attempts int NOT NULL DEFAULT 0,
            next_attempt_at timestamptz,
            last_error text,
            given_up_reason text,
            queued_at timestamptz NOT NULL,
            sent_at timestamptz,
            print_day date,
            letter_token text,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS notifications_status "
        "ON notifications (status, next_attempt_at)",
        "CREATE INDEX IF NOT EXISTS notifications_batch ON notifications (district, print_day)",
    )

    def get(self, notification_id: UUID) -> DictRow | None:
        rows = self.query(
            "SELECT * FROM notifications WHERE notification_id = %s", (notification_id,)
        )
        return rows[0] if rows else None

    def due(self, now: datetime, limit: int = 50) -> list[UUID]:
        rows = self.query(
            "SELECT notification_id FROM notifications WHERE status = 'queued' "
            "OR (status = 'failed' AND next_attempt_at <= %s) "
            "ORDER BY queued_at LIMIT %s",
            (now, limit),
        )
        return [row["notification_id"] for row in rows]

    def in_status(self, status: Status, limit: int = 500) -> list[UUID]:
        rows = self.query(
            "SELECT notification_id FROM notifications WHERE status = %s LIMIT %s",
            (status.value, limit),
        )
        return [row["notification_id"] for row in rows]

    def listing(
        self,
        district: str,
        *,
        status: str | None,
        source_event_id: str | None,
        limit: int,
        offset: int,
    ) -> list[DictRow]:
        return self.query(
            "SELECT * FROM notifications WHERE district = %(district)s "
            "AND (%(status)s::text IS NULL OR status = %(status)s) "
            "AND (%(source)s::text IS NULL OR source_event_id = %(source)s) "
            "ORDER BY queued_at DESC, notification_id LIMIT %(limit)s OFFSET %(offset)s",
            {
                "district": district,
                "status": status,
                "source": source_event_id,
                "limit": limit,
                "offset": offset,
            },
        )

    def batch(self, district: str, day: date) -> list[DictRow]:
        """The letters of a district's print batch, in the order they were produced."""
        return self.query(
            "SELECT notification_id, subject_id, template, letter_token, sent_at "
            "FROM notifications WHERE district = %s AND print_day = %s AND channel = 'letter' "
            "AND status = 'sent' ORDER BY sent_at, notification_id",
            (district, day),
        )

    def held_letters(self, limit: int = 100) -> list[DictRow]:
        """Letters that could not be produced (failed, or given up): what staff must fix."""
        return self.query(
            "SELECT notification_id, district, template, status, last_error, queued_at "
            "FROM notifications WHERE channel = 'letter' AND status IN ('failed', 'given_up') "
            "ORDER BY queued_at LIMIT %s",
            (limit,),
        )

    def of_subject(self, subject: UUID, districts: Collection[str]) -> list[DictRow]:
        """The person's notifications in ``districts`` (their Art. 15 export)."""
        return self.query(
            "SELECT * FROM notifications WHERE subject_id = %s AND district = ANY(%s) "
            "ORDER BY queued_at, notification_id",
            (subject, sorted(districts)),
        )

    def batches(self, district: str, limit: int = 60) -> list[DictRow]:
        return self.query(
            "SELECT print_day, count(*) AS letters FROM notifications "
            "WHERE district = %s AND channel = 'letter' AND status = 'sent' "
            "GROUP BY print_day ORDER BY print_day DESC LIMIT %s",
            (district, limit),
        )


class NotificationsProjection(Projection[NotificationsView]):
    name = "notification_status"
    topics = NOTIFICATION_TOPICS

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, e: Notification.Queued, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO notifications (notification_id, district, subject_id, channel, "
            "template, template_version, idempotency_key, recipient_kind, recipient, "
            "source_event_id, source_event_type, status, queued_at, updated_at) VALUES "
            "(%(id)s, %(district)s, %(subject)s, %(channel)s, %(template)s, %(version)s, "
            "%(key)s, %(kind)s, %(recipient)s, %(source)s, %(source_type)s, 'queued', "
            "%(at)s, %(at)s) ON CONFLICT (notification_id) DO NOTHING",
            {
                "id": e.originator_id,
                "district": e.meta["district"],
                "subject": UUID(e.meta["subject"]),
                "channel": e.channel,
                "template": e.template,
                "version": e.template_version,
                "key": e.idempotency_key,
                "kind": e.recipient_kind,
                "recipient": e.recipient,
                "source": e.source_event_id,
                "source_type": e.source_event_type,
                "at": e.queued_at,
            },
        )

    def _update(self, e: Any, tracking: Tracking, assignments: str, **params: Any) -> None:
        self.view.execute(
            tracking,
            f"UPDATE notifications SET {assignments}, updated_at = %(at)s "
            "WHERE notification_id = %(id)s",
            {"id": e.originator_id, "at": e.timestamp, **params},
        )

    @process_event.register
    def _(self, e: Notification.AttemptStarted, tracking: Tracking) -> None:
        self._update(e, tracking, "status = 'sending', attempts = %(n)s", n=e.attempt)

    @process_event.register
    def _(self, e: Notification.Sent, tracking: Tracking) -> None:
        self._update(
            e,
            tracking,
            "status = 'sent', sent_at = %(sent)s, print_day = %(day)s, letter_token = %(letter)s,"
            " next_attempt_at = NULL",
            sent=e.sent_at,
            day=e.print_day,
            letter=e.letter,
        )

    @process_event.register
    def _(self, e: Notification.Failed, tracking: Tracking) -> None:
        self._update(
            e,
            tracking,
            "status = 'failed', last_error = %(error)s, next_attempt_at = %(next)s",
            error=e.error,
            next=e.next_attempt_at,
        )

    @process_event.register
    def _(self, e: Notification.GivenUp, tracking: Tracking) -> None:
        self._update(
            e,
            tracking,
            "status = 'given_up', last_error = %(error)s, given_up_reason = %(reason)s, "
            "next_attempt_at = NULL",
            error=e.error,
            reason=e.reason,
        )

    @process_event.register
    def _(self, e: Notification.RetryRequested, tracking: Tracking) -> None:
        self._update(
            e, tracking, "status = 'queued', given_up_reason = NULL, next_attempt_at = NULL"
        )
