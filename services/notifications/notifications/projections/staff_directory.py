"""The staff directory and the districts' letterheads (``staff_directory``,
``district_letterheads``): who the staff named in letters are (display name, form of
address, district) and how a district signs its letters (Jobcenter, address, phone line,
e-mail, hours, data protection officer).

Not learnt from events (staff names do not belong in an immutable log): the staff come from
the identity provider (:mod:`notifications.staff_sync`, entries it made are ``updated_by``
:data:`SYNCED_BY`) and over HTTP (``PUT /staff/{user_id}``), the letterheads over HTTP
(``PUT /letterheads/{district}``). Nothing is tracked here; the service opens it under the
directory's name, so it adds no tracking table of its own.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from shared.eventsourcing.views import TrackedView

SYNCED_BY = "identity-provider"
"""``updated_by`` of the entries the synchronisation with the identity provider made."""


class StaffEntry(NamedTuple):
    user_id: str
    display_name: str
    form_of_address: str
    district: str


class StaffDirectoryView(TrackedView):
    """The staff letters name, and the districts' letterheads (set over HTTP)."""

    schema = (
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

    def synced_user_ids(self) -> set[str]:
        """The staff whose entries the synchronisation made (and may remove)."""
        rows = self.query("SELECT user_id FROM staff_directory WHERE updated_by = %s", (SYNCED_BY,))
        return {str(row["user_id"]) for row in rows}

    def apply_sync(self, entries: Sequence[StaffEntry], gone: Collection[str]) -> tuple[int, int]:
        """Write the identity provider's entries (only those that differ) and remove those of
        ``gone``, in one transaction: how many were written, how many removed."""
        written = 0
        with self.datastore.transaction(commit=True) as cursor:
            for entry in entries:
                cursor.execute(
                    b"INSERT INTO staff_directory VALUES (%s, %s, %s, %s, %s, now()) "
                    b"ON CONFLICT (user_id) DO UPDATE SET display_name = EXCLUDED.display_name, "
                    b"form_of_address = EXCLUDED.form_of_address, district = EXCLUDED.district, "
                    b"updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at "
                    b"WHERE (staff_directory.display_name, staff_directory.form_of_address, "
                    b"staff_directory.district, staff_directory.updated_by) IS DISTINCT FROM "
                    b"(EXCLUDED.display_name, EXCLUDED.form_of_address, EXCLUDED.district, "
                    b"EXCLUDED.updated_by)",
                    (*entry, SYNCED_BY),
                )
                written += cursor.rowcount
            cursor.execute(b"DELETE FROM staff_directory WHERE user_id = ANY(%s)", (sorted(gone),))
            removed = cursor.rowcount
        return written, removed

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
