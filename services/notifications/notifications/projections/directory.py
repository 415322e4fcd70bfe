"""The directory (fed by the consumers of the other services' events, ``notifications.messaging``):
where letters go and who is responsible — the case's sealed name and address and its case
manager (``ContactLost``, ``ContactDetailsUpdated``, announcements), the announced schedule of
a visit, and the running coachings (for the reminder before a coaching ends).
"""

from __future__ import annotations

from collections.abc import Collection
from functools import singledispatch
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from shared.contracts import Envelope, Payload
from shared.contracts.coaching import CoachAssigned, CoachingEnded, CoachingExtended
from shared.contracts.contacts import ContactDetailsUpdated, ContactLost
from shared.contracts.visits import Announcement
from shared.eventsourcing.views import TrackedView


class DirectoryView(TrackedView):
    """Who and where, learnt from other services (rows and tracking in one transaction)."""

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
    )

    @staticmethod
    def apply(cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
        _apply(envelope.payload, cursor, envelope)

    def case(self, case_id: UUID | str) -> DictRow | None:
        rows = self.query("SELECT * FROM directory_cases WHERE case_id = %s", (case_id,))
        return rows[0] if rows else None

    def cases_of_subject(self, subject: UUID, districts: Collection[str]) -> list[DictRow]:
        """The person's cases in ``districts`` (their Art. 15 export)."""
        return self.query(
            "SELECT * FROM directory_cases WHERE subject_id = %s AND district = ANY(%s)",
            (subject, sorted(districts)),
        )

    def visit(self, visit_id: UUID | str) -> DictRow | None:
        rows = self.query("SELECT * FROM directory_visits WHERE visit_id = %s", (visit_id,))
        return rows[0] if rows else None

    def running_coachings(self) -> list[DictRow]:
        return self.query("SELECT * FROM directory_coachings WHERE NOT ended ORDER BY ends_on")

    def districts(self) -> list[str]:
        """The districts whose persons the service knows (it may write to them)."""
        rows = self.query("SELECT DISTINCT district FROM directory_cases ORDER BY district")
        return [str(row["district"]) for row in rows]


@singledispatch
def _apply(payload: Payload, cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
    """Other events of the topic change nothing here."""


@_apply.register
def _(payload: ContactLost, cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
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


@_apply.register
def _(payload: ContactDetailsUpdated, cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
    cursor.execute(
        b"UPDATE directory_cases SET name_token = coalesce(%s, name_token), "
        b"address_token = coalesce(%s, address_token) WHERE case_id = %s",
        (payload.name, payload.address, payload.case_id),
    )


@_apply.register
def _(payload: Announcement, cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
    """An announcement or a new one: where the letter goes, and when the visit is."""
    cursor.execute(
        b"INSERT INTO directory_cases (case_id, subject_id, district, name_token, "
        b"address_token) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (case_id) DO UPDATE "
        b"SET name_token = EXCLUDED.name_token, address_token = EXCLUDED.address_token",
        (payload.case_id, envelope.subject, envelope.district, payload.name, payload.address),
    )
    cursor.execute(
        b"INSERT INTO directory_visits VALUES (%s, %s, %s) "
        b"ON CONFLICT (visit_id) DO UPDATE SET schedule = EXCLUDED.schedule",
        (payload.visit_id, payload.case_id, Jsonb(payload.schedule.model_dump(mode="json"))),
    )


@_apply.register
def _(payload: CoachAssigned, cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
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


@_apply.register
def _(payload: CoachingExtended, cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
    cursor.execute(
        b"UPDATE directory_coachings SET ends_on = %s WHERE coaching_id = %s",
        (payload.ends_on, payload.coaching_id),
    )


@_apply.register
def _(payload: CoachingEnded, cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
    cursor.execute(
        b"UPDATE directory_coachings SET ended = true WHERE coaching_id = %s",
        (payload.coaching_id,),
    )
