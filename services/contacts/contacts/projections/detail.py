"""The case detail with the person's sealed data (``case_detail``) and the timeline of
every event of the case (``case_timeline``: what, who and their role, when)."""

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

from contacts.domain import OutreachCase
from contacts.projections import CASE_TOPICS
from shared.eventsourcing.views import TrackedView


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
