"""Views of the notifications service.

- ``notifications`` (a projection of the service's own event log): every notification's
  status for the API and the outbox, and the sealed letters of the print batches. A rebuild
  of this view recomputes rows only; it never sends anything (sending is the outbox's job,
  decided by the aggregate's own state).
- ``directory`` (fed by consumers of the other services' events): where letters go and who
  is responsible — the case's sealed name and address and its case manager (``ContactLost``,
  ``ContactDetailsUpdated``, announcements), the announced schedule of a visit, and the
  running coachings (for the reminder before a coaching ends).
- the staff directory and the districts' letterheads (``staff_directory``,
  ``district_letterheads``): who the staff named in letters are (display name, form of
  address, district) and how a district signs its letters (Jobcenter, address, phone line,
  e-mail, hours, data protection officer). Not learnt from events (staff names do not belong
  in an immutable log): filled over HTTP (``PUT /staff/{user_id}``,
  ``PUT /letterheads/{district}``), later by a synchronisation with the identity provider.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from notifications.domain import Notification, Status
from shared.contracts import Envelope, Payload
from shared.contracts.coaching import CoachAssigned, CoachingEnded, CoachingExtended
from shared.contracts.contacts import ContactDetailsUpdated, ContactLost
from shared.contracts.visits import Announcement
from shared.eventsourcing.views import TrackedView

NOTIFICATION_TOPICS = tuple(
    f"notifications.domain:Notification.{name}"
    for name in ("Queued", "AttemptStarted", "Sent", "Failed", "GivenUp", "RetryRequested")
)


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


class DirectoryView(TrackedView):
    """Fed by consumers (``consumed_views``): who and where, learnt from other services."""

    schema = (
        """CREATE TABLE IF NOT EXISTS directory_cases (
            case_id uuid PRIMARY KEY,
            subject_id uuid NOT NULL,
            district text NOT NULL,
            name_token text,
            address_token text,
            case_manager text
        )""",
        """CREATE TABLE IF NOT EXISTS directory_visits (
            visit_id uuid PRIMARY KEY,
            case_id uuid NOT NULL,
            schedule jsonb NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS directory_coachings (
            coaching_id uuid PRIMARY KEY,
            case_id uuid NOT NULL,
            subject_id uuid NOT NULL,
            district text NOT NULL,
            provider_id uuid NOT NULL,
            provider_name text NOT NULL,
            coach text NOT NULL,
            ends_on date NOT NULL,
            ended boolean NOT NULL DEFAULT false
        )""",
        """CREATE TABLE IF NOT EXISTS staff_directory (
            user_id text PRIMARY KEY,
            display_name text NOT NULL,
            form_of_address text NOT NULL,
            district text NOT NULL,
            updated_by text NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS district_letterheads (
            district text PRIMARY KEY,
            letterhead jsonb NOT NULL,
            updated_by text NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
    )

    @staticmethod
    def apply(cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
        payload = envelope.payload
        if isinstance(payload, ContactLost):
            cursor.execute(
                b"INSERT INTO directory_cases VALUES (%s, %s, %s, %s, %s, %s) "
                b"ON CONFLICT (case_id) DO UPDATE SET case_manager = EXCLUDED.case_manager, "
                b"name_token = coalesce(directory_cases.name_token, EXCLUDED.name_token), "
                b"address_token = coalesce(directory_cases.address_token, "
                b"EXCLUDED.address_token)",
                (
                    payload.case_id,
                    envelope.subject,
                    envelope.district,
                    payload.person.name,
                    payload.person.address,
                    payload.case_manager,
                ),
            )
        elif isinstance(payload, ContactDetailsUpdated):
            cursor.execute(
                b"UPDATE directory_cases SET name_token = coalesce(%s, name_token), "
                b"address_token = coalesce(%s, address_token) WHERE case_id = %s",
                (payload.name, payload.address, payload.case_id),
            )
        elif isinstance(payload, Announcement):
            cursor.execute(
                b"INSERT INTO directory_cases (case_id, subject_id, district, name_token, "
                b"address_token) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (case_id) DO UPDATE "
                b"SET name_token = EXCLUDED.name_token, address_token = EXCLUDED.address_token",
                (
                    payload.case_id,
                    envelope.subject,
                    envelope.district,
                    payload.name,
                    payload.address,
                ),
            )
            cursor.execute(
                b"INSERT INTO directory_visits VALUES (%s, %s, %s) "
                b"ON CONFLICT (visit_id) DO UPDATE SET schedule = EXCLUDED.schedule",
                (
                    payload.visit_id,
                    payload.case_id,
                    Jsonb(payload.schedule.model_dump(mode="json")),
                ),
            )
        elif isinstance(payload, CoachAssigned):
            cursor.execute(
                b"INSERT INTO directory_coachings VALUES (%s, %s, %s, %s, %s, %s, %s, %s, false) "
                b"ON CONFLICT (coaching_id) DO NOTHING",
                (
                    payload.coaching_id,
                    payload.case_id,
                    envelope.subject,
                    envelope.district,
                    payload.provider_id,
                    payload.provider_name,
                    payload.coach,
                    payload.ends_on,
                ),
            )
        elif isinstance(payload, CoachingExtended):
            cursor.execute(
                b"UPDATE directory_coachings SET ends_on = %s WHERE coaching_id = %s",
                (payload.ends_on, payload.coaching_id),
            )
        elif isinstance(payload, CoachingEnded):
            cursor.execute(
                b"UPDATE directory_coachings SET ended = true WHERE coaching_id = %s",
                (payload.coaching_id,),
            )

    def case(self, case_id: UUID | str) -> DictRow | None:
        rows = self.query("SELECT * FROM directory_cases WHERE case_id = %s", (case_id,))
        return rows[0] if rows else None

    def visit(self, visit_id: UUID | str) -> DictRow | None:
        rows = self.query("SELECT * FROM directory_visits WHERE visit_id = %s", (visit_id,))
        return rows[0] if rows else None

    def running_coachings(self) -> list[DictRow]:
        return self.query("SELECT * FROM directory_coachings WHERE NOT ended ORDER BY ends_on")

    def districts(self) -> list[str]:
        """The districts whose persons the service knows (it may write to them)."""
        rows = self.query("SELECT DISTINCT district FROM directory_cases ORDER BY district")
        return [str(row["district"]) for row in rows]

    # The staff directory and the districts' letterheads.

    def staff(self, user_ids: Collection[str]) -> dict[str, DictRow]:
        rows = self.query(
            "SELECT * FROM staff_directory WHERE user_id = ANY(%s)", (sorted(user_ids),)
        )
        return {str(row["user_id"]): row for row in rows}

    def staff_of(self, districts: Collection[str]) -> list[DictRow]:
        return self.query(
            "SELECT * FROM staff_directory WHERE district = ANY(%s) ORDER BY district, user_id",
            (sorted(districts),),
        )

    def put_staff(
        self, user_id: str, *, display_name: str, form_of_address: str, district: str, by: str
    ) -> DictRow:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                b"INSERT INTO staff_directory VALUES (%s, %s, %s, %s, %s, now()) "
                b"ON CONFLICT (user_id) DO UPDATE SET display_name = EXCLUDED.display_name, "
                b"form_of_address = EXCLUDED.form_of_address, district = EXCLUDED.district, "
                b"updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at "
                b"RETURNING *",
                (user_id, display_name, form_of_address, district, by),
            )
            row = cursor.fetchone()
        assert row is not None
        return row

    def letterhead(self, district: str) -> dict[str, Any] | None:
        rows = self.query(
            "SELECT letterhead FROM district_letterheads WHERE district = %s", (district,)
        )
        return dict(rows[0]["letterhead"]) if rows else None

    def letterhead_districts(self) -> set[str]:
        return {str(r["district"]) for r in self.query("SELECT district FROM district_letterheads")}

    def put_letterhead(self, district: str, letterhead: dict[str, Any], *, by: str) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                b"INSERT INTO district_letterheads VALUES (%s, %s, %s, now()) "
                b"ON CONFLICT (district) DO UPDATE SET letterhead = EXCLUDED.letterhead, "
                b"updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at",
                (district, Jsonb(letterhead), by),
            )
