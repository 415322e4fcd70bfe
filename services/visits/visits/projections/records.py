"""Every visit (``visit_record``): a worker's agenda of a day and the visit history of a
person, from :class:`VisitRecordProjection`. Personal fields stay sealed in the rows; the API
opens them for authorised readers."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg.rows import DictRow

from shared.eventsourcing.views import TrackedView
from visits.domain import Visit, VisitStatus
from visits.projections import VISIT_TOPICS


class VisitRecordView(TrackedView):
    """Every visit: the agenda of a worker's day and the visit history of a person."""

    schema = (
        """CREATE TABLE IF NOT EXISTS visit_record (
            visit_id uuid PRIMARY KEY,
            case_id uuid NOT NULL,
            subject_id uuid NOT NULL,
            district text NOT NULL,
            workers text[] NOT NULL,
            first_day date NOT NULL,
            last_day date NOT NULL,
            time_from text,
            time_to text,
            purpose text NOT NULL,
            place text NOT NULL,
            place_description_token text,
            announced_on date NOT NULL,
            announced_at timestamptz NOT NULL,
            name_token text NOT NULL,
            address_token text NOT NULL,
            status text NOT NULL,
            cancelled_reason text,
            cancelled_on date,
            outcome text,
            needs text[],
            note_token text,
            coaching_referral_consent boolean,
            next_step text,
            completed_on date,
            attempt_number int,
            version int
        )""",
        # Views created before commands named the version they were decided on: their rows
        # have none (the API reads it from the visit) until the view is rebuilt.
        "ALTER TABLE visit_record ADD COLUMN IF NOT EXISTS version int",
        "CREATE INDEX IF NOT EXISTS visit_record_case ON visit_record (case_id)",
        "CREATE INDEX IF NOT EXISTS visit_record_day ON visit_record (status, first_day, last_day)",
    )

    def of_subject(self, subject: UUID, districts: Collection[str]) -> list[DictRow]:
        """The person's visits in ``districts`` (their Art. 15 export)."""
        return self.query(
            "SELECT * FROM visit_record WHERE subject_id = %s AND district = ANY(%s) "
            "ORDER BY announced_at, visit_id",
            (subject, sorted(districts)),
        )

    def visit(self, visit_id: UUID) -> DictRow | None:
        rows = self.query("SELECT * FROM visit_record WHERE visit_id = %s", (visit_id,))
        return rows[0] if rows else None

    def agenda(
        self, worker: str, day: date, districts: list[str], last_day: date | None = None
    ) -> list[DictRow]:
        """The announced visits of ``worker`` whose date or window includes ``day`` (or a
        day from ``day`` to ``last_day``)."""
        return self.query(
            "SELECT * FROM visit_record WHERE status = 'announced' "
            "AND %(worker)s = ANY(workers) AND first_day <= %(last)s AND last_day >= %(day)s "
            "AND district = ANY(%(districts)s) ORDER BY visit_id",
            {"worker": worker, "day": day, "last": last_day or day, "districts": districts},
        )

    def history(self, case_id: UUID) -> list[DictRow]:
        return self.query(
            "SELECT * FROM visit_record WHERE case_id = %s ORDER BY announced_at, visit_id",
            (case_id,),
        )


class VisitRecordProjection(Projection[VisitRecordView]):
    name = "visit_record"
    topics = VISIT_TOPICS

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, e: Visit.Announced, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO visit_record (visit_id, case_id, subject_id, district, workers, "
            "first_day, last_day, time_from, time_to, purpose, place, place_description_token, "
            "announced_on, announced_at, name_token, address_token, status, version) VALUES "
            "(%(visit_id)s, %(case_id)s, %(subject_id)s, %(district)s, %(workers)s, "
            "%(first_day)s, %(last_day)s, %(time_from)s, %(time_to)s, %(purpose)s, %(place)s, "
            "%(place_description)s, %(announced_on)s, %(announced_at)s, %(name)s, %(address)s, "
            "%(status)s, %(version)s) ON CONFLICT (visit_id) DO NOTHING",
            {
                "visit_id": e.originator_id,
                "case_id": e.case_id,
                "subject_id": e.subject_id,
                "district": e.district,
                "workers": list(e.workers),
                **e.schedule,
                "purpose": e.purpose,
                "place": e.place,
                "place_description": e.place_description,
                "announced_on": e.announced_on,
                "announced_at": e.timestamp,
                "name": e.name,
                "address": e.address,
                "status": VisitStatus.ANNOUNCED.value,
                "version": e.originator_version,
            },
        )

    @process_event.register
    def _(self, e: Visit.Rescheduled, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE visit_record SET first_day = %(first_day)s, last_day = %(last_day)s, "
            "time_from = %(time_from)s, time_to = %(time_to)s, announced_on = %(announced_on)s, "
            "version = %(version)s WHERE visit_id = %(visit_id)s",
            {
                "visit_id": e.originator_id,
                "announced_on": e.announced_on,
                "version": e.originator_version,
                **e.schedule,
            },
        )

    @process_event.register
    def _(self, e: Visit.Cancelled, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE visit_record SET status = %(status)s, cancelled_reason = %(reason)s, "
            "cancelled_on = %(cancelled_on)s, version = %(version)s WHERE visit_id = %(visit_id)s",
            {
                "visit_id": e.originator_id,
                "status": VisitStatus.CANCELLED.value,
                "reason": e.reason,
                "cancelled_on": e.cancelled_on,
                "version": e.originator_version,
            },
        )

    @process_event.register
    def _(self, e: Visit.Completed, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE visit_record SET status = %(status)s, outcome = %(outcome)s, "
            "needs = %(needs)s, note_token = %(note)s, "
            "coaching_referral_consent = %(consent)s, next_step = %(next_step)s, "
            "completed_on = %(completed_on)s, attempt_number = %(attempt_number)s, "
            "version = %(version)s WHERE visit_id = %(visit_id)s",
            {
                "visit_id": e.originator_id,
                "status": VisitStatus.COMPLETED.value,
                "outcome": e.outcome,
                "needs": list(e.needs),
                "note": e.note,
                "consent": e.coaching_referral_consent,
                "next_step": e.next_step,
                "completed_on": e.completed_on,
                "attempt_number": e.attempt_number,
                "version": e.originator_version,
            },
        )
