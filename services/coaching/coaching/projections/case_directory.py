"""The case directory: who a case is, from the contacts events (fed by a Kafka consumer,
``coaching.messaging``) — the sealed contact data the hand-over packet opens for the
provider's coach."""

from __future__ import annotations

from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import ContactDetailsUpdated, ContactLost, OutreachCaseClosed
from shared.eventsourcing.views import TrackedView


class CaseDirectoryView(TrackedView):
    """Who a case is: district, person pseudonym, and the sealed contact data (name,
    address, phone) from ``ContactLost`` and ``ContactDetailsUpdated``."""

    schema = (
        """CREATE TABLE IF NOT EXISTS case_directory (
            case_id uuid PRIMARY KEY,
            subject_id uuid NOT NULL,
            district text NOT NULL,
            local_office text NOT NULL,
            name_token text NOT NULL,
            address_token text NOT NULL,
            phone_token text,
            case_manager text NOT NULL,
            is_open boolean NOT NULL DEFAULT true
        )""",
    )

    @staticmethod
    def apply_contact_event(cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
        payload = envelope.payload
        if isinstance(payload, ContactLost):
            cursor.execute(
                b"INSERT INTO case_directory VALUES (%s, %s, %s, %s, %s, %s, %s, %s, true) "
                b"ON CONFLICT (case_id) DO NOTHING",
                (
                    payload.case_id,
                    envelope.subject,
                    envelope.district,
                    payload.local_office,
                    payload.person.name,
                    payload.person.address,
                    payload.person.phone,
                    payload.case_manager,
                ),
            )
        elif isinstance(payload, ContactDetailsUpdated):
            cursor.execute(
                b"UPDATE case_directory SET name_token = coalesce(%s, name_token), "
                b"address_token = coalesce(%s, address_token), "
                b"phone_token = coalesce(%s, phone_token) WHERE case_id = %s",
                (payload.name, payload.address, payload.phone, payload.case_id),
            )
        elif isinstance(payload, OutreachCaseClosed):
            # The row stays: a coaching can outlast the outreach case, and its hand-over
            # packet still needs the contact data.
            cursor.execute(
                b"UPDATE case_directory SET is_open = false WHERE case_id = %s", (payload.case_id,)
            )

    def case(self, case_id: UUID) -> DictRow | None:
        rows = self.query("SELECT * FROM case_directory WHERE case_id = %s", (case_id,))
        return rows[0] if rows else None

    def cases(self, case_ids: list[UUID]) -> dict[UUID, DictRow]:
        rows = self.query("SELECT * FROM case_directory WHERE case_id = ANY(%s)", (case_ids,))
        return {row["case_id"]: row for row in rows}

    def of_subject(self, subject_id: UUID, districts: list[str]) -> list[DictRow]:
        """The person's cases as known here, in ``districts`` (their Art. 15 export)."""
        return self.query(
            "SELECT * FROM case_directory WHERE subject_id = %s AND district = ANY(%s)",
            (subject_id, districts),
        )
