"""The lost-contact queue of a district (``case_queue``) and its counts
(``case_queue_totals``, kept by triggers in the transaction that changes the queue).

Personal fields stay sealed in the rows (the name token); the API opens them for authorised
readers.
"""

from __future__ import annotations

from datetime import date
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg.rows import DictRow

from contacts.domain import CaseStatus, OutreachCase
from contacts.projections import CASE_TOPICS
from shared.eventsourcing.views import TrackedView


def _add_to_totals(deltas: str) -> str:
    """PL/pgSQL: add ``deltas`` (rows of district, status, deadline, delta) to
    ``case_queue_totals``. Additive upserts in key order: concurrent transactions changing
    the same district wait for each other's row instead of overwriting it, and always lock
    the rows in the same order."""
    return (
        "INSERT INTO case_queue_totals AS t (district, status, deadline, cases) "
        "SELECT district, status, deadline, sum(delta) "
        f"FROM ({deltas}) AS d (district, status, deadline, delta) "
        "GROUP BY district, status, deadline HAVING sum(delta) <> 0 "
        "ORDER BY district, status, deadline "
        "ON CONFLICT (district, status, deadline) DO UPDATE SET cases = t.cases + EXCLUDED.cases;"
    )


def _drop_empty_totals(districts: str) -> str:
    """PL/pgSQL: delete the totals of ``districts`` that fell to zero (the rows read per
    request stay the deadlines in use, not every deadline there ever was)."""
    return f"DELETE FROM case_queue_totals WHERE district IN ({districts}) AND cases = 0;"


QUEUE_TOTALS_SCHEMA = (
    # One process at a time (the functions' CREATE OR REPLACE races with itself).
    "SELECT pg_advisory_xact_lock(hashtext('case_queue_totals'))",
    # Rows inserted and deleted by one statement (a COPY too) are added up per key first.
    "CREATE OR REPLACE FUNCTION case_queue_totals_added() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN "
    + _add_to_totals("SELECT district, status, deadline, 1 FROM added")
    + " RETURN NULL; END $$",
    "CREATE OR REPLACE FUNCTION case_queue_totals_removed() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN "
    + _add_to_totals("SELECT district, status, deadline, -1 FROM removed")
    + _drop_empty_totals("SELECT district FROM removed")
    + " RETURN NULL; END $$",
    "CREATE OR REPLACE FUNCTION case_queue_totals_moved() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN "
    + _add_to_totals(
        "VALUES (OLD.district, OLD.status, OLD.deadline, -1), "
        "(NEW.district, NEW.status, NEW.deadline, 1)"
    )
    + _drop_empty_totals("OLD.district")
    + " RETURN NULL; END $$",
    "CREATE OR REPLACE FUNCTION case_queue_totals_emptied() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN TRUNCATE case_queue_totals; RETURN NULL; END $$",
    # Created together with its triggers and filled from the rows the queue already holds,
    # while the queue takes no writes: from then on every change of the queue changes the
    # totals in the same transaction.
    """DO $$ BEGIN
    IF to_regclass('case_queue_totals') IS NULL THEN
        LOCK TABLE case_queue IN SHARE ROW EXCLUSIVE MODE;
        CREATE TABLE case_queue_totals (
            district text NOT NULL,
            status text NOT NULL,
            deadline date,
            cases bigint NOT NULL,
            UNIQUE NULLS NOT DISTINCT (district, status, deadline)
        ) WITH (fillfactor = 50);
        CREATE TRIGGER case_queue_totals_added AFTER INSERT ON case_queue
            REFERENCING NEW TABLE AS added
            FOR EACH STATEMENT EXECUTE FUNCTION case_queue_totals_added();
        CREATE TRIGGER case_queue_totals_removed AFTER DELETE ON case_queue
            REFERENCING OLD TABLE AS removed
            FOR EACH STATEMENT EXECUTE FUNCTION case_queue_totals_removed();
        CREATE TRIGGER case_queue_totals_moved AFTER UPDATE OF district, status, deadline
            ON case_queue FOR EACH ROW
            WHEN (OLD.district IS DISTINCT FROM NEW.district
                OR OLD.status IS DISTINCT FROM NEW.status
                OR OLD.deadline IS DISTINCT FROM NEW.deadline)
            EXECUTE FUNCTION case_queue_totals_moved();
        CREATE TRIGGER case_queue_totals_emptied AFTER TRUNCATE ON case_queue
            FOR EACH STATEMENT EXECUTE FUNCTION case_queue_totals_emptied();
        INSERT INTO case_queue_totals (district, status, deadline, cases)
            SELECT district, status, deadline, count(*) FROM case_queue
            GROUP BY district, status, deadline;
    END IF;
END $$""",
)
"""``case_queue_totals``: the number of open cases per (district, status, deadline), kept
by triggers on ``case_queue`` in the transaction that changes the queue (inserts, deletes,
changes of district, status or deadline, and ``TRUNCATE`` for a rebuild). The counts of a
request read the district's rows of it; the deadline stays in the key because the buckets
("deadline passed", "due within 14 days") move with the day the counts are read."""


class CaseQueueView(TrackedView):
    schema = (
        """CREATE TABLE IF NOT EXISTS case_queue (
            case_id uuid PRIMARY KEY,
            district text NOT NULL,
            local_office text NOT NULL,
            status text NOT NULL,
            reason text NOT NULL,
            deadline date,
            reported_on date NOT NULL,
            last_contact_on date,
            unanswered_letters int NOT NULL,
            missed_appointments int NOT NULL,
            name_token text NOT NULL
        )""",
        # The page in either order straight from an index (no sort of the district's cases).
        "CREATE INDEX IF NOT EXISTS case_queue_by_deadline "
        "ON case_queue (district, deadline, reported_on, case_id)",
        "CREATE INDEX IF NOT EXISTS case_queue_by_age "
        "ON case_queue (district, coalesce(last_contact_on, reported_on), deadline, case_id)",
        # The page of one status (``status=`` filter).
        "CREATE INDEX IF NOT EXISTS case_queue_counts ON case_queue (district, status, deadline)",
        "DROP INDEX IF EXISTS case_queue_district",  # (district, status): covered by the above
        *QUEUE_TOTALS_SCHEMA,
    )

    def add(self, row: dict[str, Any], tracking: Tracking) -> None:
        self.execute(
            tracking,
            "INSERT INTO case_queue VALUES (%(case_id)s, %(district)s, %(local_office)s, "
            "%(status)s, %(reason)s, %(deadline)s, %(reported_on)s, %(last_contact_on)s, "
            "%(unanswered_letters)s, %(missed_appointments)s, %(name_token)s) "
            "ON CONFLICT (case_id) DO NOTHING",
            row,
        )

    def update(self, case_id: UUID, tracking: Tracking, **fields: Any) -> None:
        assignments = ", ".join(f"{name} = %({name})s" for name in fields)
        self.execute(
            tracking,
            f"UPDATE case_queue SET {assignments} WHERE case_id = %(case_id)s",
            {**fields, "case_id": case_id},
        )

    def remove(self, case_id: UUID, tracking: Tracking) -> None:
        self.execute(tracking, "DELETE FROM case_queue WHERE case_id = %s", (case_id,))

    def queue(
        self, district: str, *, sort: str, status: str | None, limit: int, offset: int
    ) -> list[DictRow]:
        order = {
            "deadline": "deadline ASC NULLS LAST, reported_on ASC",
            "age": "coalesce(last_contact_on, reported_on) ASC, deadline ASC NULLS LAST",
        }[sort]
        by_status = "AND status = %(status)s " if status is not None else ""
        return self.query(
            f"SELECT * FROM case_queue WHERE district = %(district)s {by_status}"
            f"ORDER BY {order}, case_id LIMIT %(limit)s OFFSET %(offset)s",
            {"district": district, "status": status, "limit": limit, "offset": offset},
        )

    def counts(self, district: str, today: date) -> dict[str, int]:
        """The district's open cases by status and by deadline bucket, from
        ``case_queue_totals`` (one row per status and deadline: a few hundred rows, however
        many cases the district holds)."""
        rows = self.query(
            "SELECT coalesce(sum(cases), 0) AS open, "
            "coalesce(sum(cases) FILTER (WHERE status = 'contact_lost'), 0) AS contact_lost, "
            "coalesce(sum(cases) FILTER (WHERE status = 'contact_restored'), 0) "
            "AS contact_restored, "
            "coalesce(sum(cases) FILTER (WHERE deadline < %(today)s), 0) AS deadline_passed, "
            "coalesce(sum(cases) FILTER (WHERE deadline >= %(today)s "
            "AND deadline < %(today)s + 14), 0) AS deadline_within_14_days "
            "FROM case_queue_totals WHERE district = %(district)s",
            {"district": district, "today": today},
        )
        return {key: int(value) for key, value in rows[0].items()}


class CaseQueueProjection(Projection[CaseQueueView]):
    name = "case_queue"
    topics = CASE_TOPICS

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, e: OutreachCase.ContactLost, tracking: Tracking) -> None:
        self.view.add(
            {
                "case_id": e.originator_id,
                "district": e.district,
                "local_office": e.local_office,
                "status": CaseStatus.CONTACT_LOST.value,
                "reason": e.reason,
                "deadline": e.deadline,
                "reported_on": e.reported_on,
                "last_contact_on": e.evidence.get("last_contact_on"),
                "unanswered_letters": e.evidence["unanswered_letters"],
                "missed_appointments": e.evidence["missed_appointments"],
                "name_token": e.person["name"],
            },
            tracking,
        )

    @process_event.register
    def _(self, e: OutreachCase.ContactRestored, tracking: Tracking) -> None:
        self.view.update(e.originator_id, tracking, status=CaseStatus.CONTACT_RESTORED.value)

    @process_event.register
    def _(self, e: OutreachCase.ContactDetailsUpdated, tracking: Tracking) -> None:
        if "name" in e.changes:
            self.view.update(e.originator_id, tracking, name_token=e.changes["name"])
        else:
            self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, e: OutreachCase.Closed, tracking: Tracking) -> None:
        self.view.remove(e.originator_id, tracking)
