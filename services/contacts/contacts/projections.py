"""Tracked views of the contacts service, following its own event log.

- the lost-contact queue per district (``case_queue``)
- the case detail with its timeline (``case_detail`` and ``case_timeline``)
- legal holds and erasures (``legal_holds``, ``erasures``), for the retention job

Personal fields stay sealed in the view rows; the API opens them for authorised readers.
"""

from __future__ import annotations

from datetime import date
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from contacts.domain import CaseStatus, CategoryErasure, Erasure, LegalHold, OutreachCase
from shared.erasure import Forget, blank_tokens, forget_all
from shared.eventsourcing.views import TrackedView
from shared.privacy import ERASED

CASE_TOPICS = tuple(
    f"contacts.domain:OutreachCase.{name}"
    for name in (
        "ContactLost",
        "ContactRestored",
        "ContactDetailsUpdated",
        "Closed",
        "CoachingNoted",
        "VisitNoted",
        "LetterNoted",
    )
)


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
        with self.tracked(tracking) as cursor:
            cursor.execute(
                b"INSERT INTO case_queue VALUES (%(case_id)s, %(district)s, %(local_office)s, "
                b"%(status)s, %(reason)s, %(deadline)s, %(reported_on)s, %(last_contact_on)s, "
                b"%(unanswered_letters)s, %(missed_appointments)s, %(name_token)s) "
                b"ON CONFLICT (case_id) DO NOTHING",
                row,
            )

    def update(self, case_id: UUID, tracking: Tracking, **fields: Any) -> None:
        assignments = ", ".join(f"{name} = %({name})s" for name in fields)
        with self.tracked(tracking) as cursor:
            cursor.execute(
                f"UPDATE case_queue SET {assignments} WHERE case_id = %(case_id)s".encode(),
                {**fields, "case_id": case_id},
            )

    def remove(self, case_id: UUID, tracking: Tracking) -> None:
        with self.tracked(tracking) as cursor:
            cursor.execute(b"DELETE FROM case_queue WHERE case_id = %s", (case_id,))

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


class CaseDetailView(TrackedView):
    schema = (
        """CREATE TABLE IF NOT EXISTS case_detail (
            case_id uuid PRIMARY KEY,
            subject_id uuid NOT NULL,
            district text NOT NULL,
            local_office text NOT NULL,
            status text NOT NULL,
            reason text NOT NULL,
            evidence jsonb NOT NULL,
            deadline date,
            case_manager text NOT NULL,
            reported_on date NOT NULL,
            person jsonb NOT NULL,
            closed_reason text
        )""",
        """CREATE TABLE IF NOT EXISTS case_timeline (
            case_id uuid NOT NULL,
            version int NOT NULL,
            event_type text NOT NULL,
            occurred_at timestamptz NOT NULL,
            actor text NOT NULL,
            role text NOT NULL,
            details jsonb NOT NULL,
            PRIMARY KEY (case_id, version)
        )""",
    )

    def record(
        self,
        e: Any,
        tracking: Tracking,
        details: dict[str, Any],
        change: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        with self.tracked(tracking) as cursor:
            if change is not None:
                cursor.execute(change.encode(), {"case_id": e.originator_id, **(params or {})})
            self._append(cursor, e, details)

    @staticmethod
    def _append(cursor: Cursor[DictRow], e: Any, details: dict[str, Any]) -> None:
        cursor.execute(
            b"INSERT INTO case_timeline VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (
                e.originator_id,
                e.originator_version,
                type(e).__name__,
                e.timestamp,
                e.meta.get("actor", "system"),
                e.meta.get("role", "system"),
                Jsonb(details),
            ),
        )

    def detail(self, case_id: UUID) -> DictRow | None:
        rows = self.query("SELECT * FROM case_detail WHERE case_id = %s", (case_id,))
        return rows[0] if rows else None

    def districts_of(self, subject_id: UUID) -> list[str]:
        """The districts in which the person (pseudonym) has had a case."""
        rows = self.query(
            "SELECT DISTINCT district FROM case_detail WHERE subject_id = %s ORDER BY district",
            (subject_id,),
        )
        return [str(row["district"]) for row in rows]

    def case_of(self, subject_id: UUID, district: str) -> UUID | None:
        """The person's open case in ``district``, else their latest one there."""
        rows = self.query(
            "SELECT case_id FROM case_detail WHERE subject_id = %s AND district = %s "
            "ORDER BY status = 'closed', reported_on DESC, case_id LIMIT 1",
            (subject_id, district),
        )
        return rows[0]["case_id"] if rows else None

    def timeline(self, case_id: UUID) -> list[DictRow]:
        return self.query(
            "SELECT version, event_type, occurred_at, actor, role, details FROM case_timeline "
            "WHERE case_id = %s ORDER BY version",
            (case_id,),
        )


def _json_dates(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


class CaseDetailProjection(Projection[CaseDetailView]):
    name = "case_detail"
    topics = CASE_TOPICS

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, e: OutreachCase.ContactLost, tracking: Tracking) -> None:
        self.view.record(
            e,
            tracking,
            {"reason": e.reason, "local_office": e.local_office},
            "INSERT INTO case_detail VALUES (%(case_id)s, %(subject_id)s, %(district)s, "
            "%(local_office)s, 'contact_lost', %(reason)s, %(evidence)s, %(deadline)s, "
            "%(case_manager)s, %(reported_on)s, %(person)s, NULL) ON CONFLICT DO NOTHING",
            {
                "subject_id": e.subject_id,
                "district": e.district,
                "local_office": e.local_office,
                "reason": e.reason,
                "evidence": Jsonb(_json_dates(e.evidence)),
                "deadline": e.deadline,
                "case_manager": e.case_manager,
                "reported_on": e.reported_on,
                "person": Jsonb(e.person),
            },
        )

    @process_event.register
    def _(self, e: OutreachCase.ContactRestored, tracking: Tracking) -> None:
        self.view.record(
            e,
            tracking,
            {"channel": e.channel, "restored_on": e.restored_on.isoformat()},
            "UPDATE case_detail SET status = 'contact_restored' WHERE case_id = %(case_id)s",
        )

    @process_event.register
    def _(self, e: OutreachCase.ContactDetailsUpdated, tracking: Tracking) -> None:
        self.view.record(
            e,
            tracking,
            {"changed": sorted(e.changes)},
            "UPDATE case_detail SET person = person || %(changes)s WHERE case_id = %(case_id)s",
            {"changes": Jsonb(e.changes)},
        )

    @process_event.register
    def _(self, e: OutreachCase.Closed, tracking: Tracking) -> None:
        self.view.record(
            e,
            tracking,
            {"reason": e.reason},
            "UPDATE case_detail SET status = 'closed', closed_reason = %(reason)s "
            "WHERE case_id = %(case_id)s",
            {"reason": e.reason},
        )

    @process_event.register
    def _(self, e: OutreachCase.CoachingNoted, tracking: Tracking) -> None:
        self.view.record(e, tracking, {"kind": e.kind, **e.details})

    @process_event.register
    def _(self, e: OutreachCase.VisitNoted, tracking: Tracking) -> None:
        self.view.record(e, tracking, {"kind": e.kind, **e.details})

    @process_event.register
    def _(self, e: OutreachCase.LetterNoted, tracking: Tracking) -> None:
        self.view.record(e, tracking, {"kind": e.kind, **e.details})


# --- data protection ----------------------------------------------------------------------


class DataProtectionView(TrackedView):
    """Legal holds and erasures by person (pseudonym): what the retention job must respect
    (``category_erasures``: the data categories erased on their own, the last time each)."""

    schema = (
        """CREATE TABLE IF NOT EXISTS legal_holds (
            subject_id uuid PRIMARY KEY,
            active boolean NOT NULL,
            reason text NOT NULL,
            changed_at timestamptz NOT NULL,
            changed_by text NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS erasures (
            erasure_id uuid PRIMARY KEY,
            subject_id uuid NOT NULL UNIQUE,
            district text NOT NULL,
            ground text NOT NULL,
            requested_at timestamptz NOT NULL,
            requested_by text NOT NULL,
            key_destroyed_at timestamptz
        )""",
        """CREATE TABLE IF NOT EXISTS category_erasures (
            subject_id uuid NOT NULL,
            category text NOT NULL,
            erasure_id uuid NOT NULL,
            district text NOT NULL,
            ground text NOT NULL,
            requested_at timestamptz NOT NULL,
            requested_by text NOT NULL,
            key_destroyed_at timestamptz,
            PRIMARY KEY (subject_id, category)
        )""",
    )


class DataProtectionProjection(Projection[DataProtectionView]):
    name = "data_protection"
    topics = (
        *(f"contacts.domain:LegalHold.{name}" for name in ("Placed", "PlacedAgain", "Lifted")),
        *(f"contacts.domain:Erasure.{name}" for name in ("Requested", "KeyDestroyed")),
        *(
            f"contacts.domain:CategoryErasure.{name}"
            for name in ("Requested", "RequestedAgain", "KeyDestroyed")
        ),
    )

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    def _hold(self, e: Any, tracking: Tracking, active: bool, subject_id: Any) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO legal_holds VALUES (%(subject)s, %(active)s, %(reason)s, %(at)s, %(by)s) "
            "ON CONFLICT (subject_id) DO UPDATE SET active = EXCLUDED.active, "
            "reason = EXCLUDED.reason, changed_at = EXCLUDED.changed_at, "
            "changed_by = EXCLUDED.changed_by",
            {
                "subject": subject_id,
                "active": active,
                "reason": e.reason,
                "at": e.timestamp,
                "by": e.meta.get("actor", "system"),
            },
        )

    @process_event.register
    def _(self, e: LegalHold.Placed, tracking: Tracking) -> None:
        self._hold(e, tracking, True, e.subject_id)

    @process_event.register
    def _(self, e: LegalHold.PlacedAgain, tracking: Tracking) -> None:
        self._hold(e, tracking, True, e.meta["subject"])

    @process_event.register
    def _(self, e: LegalHold.Lifted, tracking: Tracking) -> None:
        self._hold(e, tracking, False, e.meta["subject"])

    @process_event.register
    def _(self, e: Erasure.Requested, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO erasures VALUES (%(id)s, %(subject)s, %(district)s, %(ground)s, "
            "%(at)s, %(by)s, NULL) ON CONFLICT DO NOTHING",
            {
                "id": e.originator_id,
                "subject": e.subject_id,
                "district": e.district,
                "ground": e.ground,
                "at": e.timestamp,
                "by": e.meta.get("actor", "system"),
            },
        )

    @process_event.register
    def _(self, e: Erasure.KeyDestroyed, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE erasures SET key_destroyed_at = %(at)s WHERE erasure_id = %(id)s",
            {"id": e.originator_id, "at": e.destroyed_at},
        )

    def _category_requested(self, e: Any, tracking: Tracking, subject: Any, category: Any) -> None:
        # ``key_destroyed_at`` keeps the last erasure until this one's key is destroyed.
        self.view.execute(
            tracking,
            "INSERT INTO category_erasures VALUES (%(subject)s, %(category)s, %(id)s, "
            "%(district)s, %(ground)s, %(at)s, %(by)s, NULL) "
            "ON CONFLICT (subject_id, category) DO UPDATE SET district = EXCLUDED.district, "
            "ground = EXCLUDED.ground, requested_at = EXCLUDED.requested_at, "
            "requested_by = EXCLUDED.requested_by",
            {
                "subject": subject,
                "category": category,
                "id": e.originator_id,
                "district": e.district,
                "ground": e.ground,
                "at": e.timestamp,
                "by": e.meta.get("actor", "system"),
            },
        )

    @process_event.register
    def _(self, e: CategoryErasure.Requested, tracking: Tracking) -> None:
        self._category_requested(e, tracking, e.subject_id, e.category)

    @process_event.register
    def _(self, e: CategoryErasure.RequestedAgain, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE category_erasures SET district = %(district)s, ground = %(ground)s, "
            "requested_at = %(at)s, requested_by = %(by)s WHERE erasure_id = %(id)s",
            {
                "id": e.originator_id,
                "district": e.district,
                "ground": e.ground,
                "at": e.timestamp,
                "by": e.meta.get("actor", "system"),
            },
        )

    @process_event.register
    def _(self, e: CategoryErasure.KeyDestroyed, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE category_erasures SET key_destroyed_at = %(at)s WHERE erasure_id = %(id)s",
            {"id": e.originator_id, "at": e.destroyed_at},
        )


def _blank_case_detail_person(cursor: Cursor[DictRow], subject_id: UUID) -> None:
    cursor.execute(
        b"UPDATE case_detail SET person = (SELECT jsonb_object_agg(key, CASE WHEN "
        b"jsonb_typeof(value) = 'null' THEN value ELSE to_jsonb(%(erased)s::text) END) "
        b"FROM jsonb_each(person)) WHERE subject_id = %(subject)s",
        {"subject": subject_id, "erased": ERASED},
    )


FORGET: Forget = forget_all(
    blank_tokens(
        "case_queue",
        "name_token",
        where="case_id IN (SELECT case_id FROM case_detail WHERE subject_id = %(subject)s)",
    ),
    _blank_case_detail_person,
)
"""What contacts forgets of an erased person: the sealed name in the queue and every sealed
field of the case detail become ``[erased]``; the case, its status and timeline (no personal
data) stay as the audit trail."""
