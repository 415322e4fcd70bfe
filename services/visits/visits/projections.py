"""Views of the visits service.

- the planning board per district (``planning_board``): fed by two writers, each with its
  own tracking table — the contacts events from Kafka (who is to be visited; see
  ``visits.consumers``) and :class:`BoardVisitsProjection` following the visits event log
  (what is announced, overdue, to be visited again).
- every visit (``visit_record``): a worker's agenda of a day and the visit history of a
  person, from :class:`VisitRecordProjection`.

Personal fields stay sealed in the rows; the API opens them for authorised readers. No row
holds anything that marks a person for not being met or for refusing entry: the board only
counts visits, and flags a case for the team lead after the district's maximum of them.
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

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import (
    ContactDetailsUpdated,
    ContactLost,
    ContactRestored,
    OutreachCaseClosed,
)
from shared.contracts.visits import VisitOutcome
from shared.erasure import Forget, blank_tokens, forget_all
from shared.eventstore import TrackedView
from visits.domain import Visit, VisitStatus

VISIT_TOPICS = tuple(
    f"visits.domain:Visit.{name}" for name in ("Announced", "Rescheduled", "Cancelled", "Completed")
)

BOARD_SECTIONS = ("to_plan", "announced", "overdue", "revisits", "flagged")


class PlanningBoardView(TrackedView):
    """Who the outreach team of a district has to plan, announce or visit again."""

    schema = (
        """CREATE TABLE IF NOT EXISTS planning_board (
            case_id uuid PRIMARY KEY,
            subject_id uuid NOT NULL,
            district text NOT NULL,
            local_office text NOT NULL,
            name_token text NOT NULL,
            address_token text NOT NULL,
            deadline date,
            reported_on date NOT NULL,
            state text NOT NULL,
            visit_id uuid,
            first_day date,
            last_day date,
            attempts int NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX IF NOT EXISTS planning_board_district ON planning_board (district, state)",
        "CREATE INDEX IF NOT EXISTS planning_board_visit ON planning_board (visit_id)",
    )

    # --- the contacts events (applied by the board consumer, with its tracking) ---------

    @staticmethod
    def apply_contact_event(cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
        payload = envelope.payload
        if isinstance(payload, ContactLost):
            cursor.execute(
                b"INSERT INTO planning_board (case_id, subject_id, district, local_office, "
                b"name_token, address_token, deadline, reported_on, state) "
                b"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'to_plan') "
                b"ON CONFLICT (case_id) DO NOTHING",
                (
                    payload.case_id,
                    envelope.subject,
                    envelope.district,
                    payload.local_office,
                    payload.person.name,
                    payload.person.address,
                    payload.deadline,
                    envelope.occurred_at.date(),
                ),
            )
        elif isinstance(payload, ContactDetailsUpdated):
            cursor.execute(
                b"UPDATE planning_board SET name_token = coalesce(%s, name_token), "
                b"address_token = coalesce(%s, address_token) WHERE case_id = %s",
                (payload.name, payload.address, payload.case_id),
            )
        elif isinstance(payload, ContactRestored | OutreachCaseClosed):  # leaves the board
            cursor.execute(b"DELETE FROM planning_board WHERE case_id = %s", (payload.case_id,))

    # --- queries ------------------------------------------------------------------------

    def case(self, case_id: UUID) -> DictRow | None:
        rows = self.query("SELECT * FROM planning_board WHERE case_id = %s", (case_id,))
        return rows[0] if rows else None

    def board(self, district: str, *, today: date, max_attempts: int) -> dict[str, list[DictRow]]:
        """The district's board by section; ``overdue``: the window passed with no outcome."""
        rows = self.query(
            "SELECT *, CASE "
            "WHEN state = 'to_plan' THEN 'to_plan' "
            "WHEN state = 'announced' AND last_day < %(today)s THEN 'overdue' "
            "WHEN state = 'announced' THEN 'announced' "
            "WHEN state = 'revisit' AND attempts >= %(max)s THEN 'flagged' "
            "ELSE 'revisits' END AS section "
            "FROM planning_board WHERE district = %(district)s "
            "ORDER BY deadline ASC NULLS LAST, first_day ASC NULLS LAST, reported_on, case_id",
            {"district": district, "today": today, "max": max_attempts},
        )
        sections: dict[str, list[DictRow]] = {name: [] for name in BOARD_SECTIONS}
        for row in rows:
            sections[row["section"]].append(row)
        return sections


class BoardVisitsView(PlanningBoardView):
    """The same board, as written by the projection of the visits event log."""

    rebuild_tables = ()  # the board's rows come from the contacts consumer too

    def change(self, tracking: Tracking, sql: str, params: dict[str, Any]) -> None:
        with self.tracked(tracking) as cursor:
            cursor.execute(sql.encode(), params)


class BoardVisitsProjection(Projection[BoardVisitsView]):
    name = "planning_board_visits"
    topics = VISIT_TOPICS

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, e: Visit.Announced, tracking: Tracking) -> None:
        self.view.change(
            tracking,
            "UPDATE planning_board SET state = 'announced', visit_id = %(visit_id)s, "
            "first_day = %(first_day)s, last_day = %(last_day)s WHERE case_id = %(case_id)s",
            {
                "visit_id": e.originator_id,
                "case_id": e.case_id,
                "first_day": e.schedule["first_day"],
                "last_day": e.schedule["last_day"],
            },
        )

    @process_event.register
    def _(self, e: Visit.Rescheduled, tracking: Tracking) -> None:
        self.view.change(
            tracking,
            "UPDATE planning_board SET first_day = %(first_day)s, last_day = %(last_day)s "
            "WHERE visit_id = %(visit_id)s",
            {
                "visit_id": e.originator_id,
                "first_day": e.schedule["first_day"],
                "last_day": e.schedule["last_day"],
            },
        )

    @process_event.register
    def _(self, e: Visit.Cancelled, tracking: Tracking) -> None:
        # Back to planning (a person who got in touch leaves the board by ContactRestored).
        self.view.change(
            tracking,
            "UPDATE planning_board SET state = CASE WHEN attempts > 0 THEN 'revisit' "
            "ELSE 'to_plan' END, visit_id = NULL, first_day = NULL, last_day = NULL "
            "WHERE visit_id = %(visit_id)s",
            {"visit_id": e.originator_id},
        )

    @process_event.register
    def _(self, e: Visit.Completed, tracking: Tracking) -> None:
        if VisitOutcome(e.outcome).contact_made:
            self.view.change(
                tracking,
                "DELETE FROM planning_board WHERE case_id = %(case_id)s",
                {"case_id": e.case_id},
            )
            return
        # Not met, or entry refused: the same for the board — visit again, and count it.
        self.view.change(
            tracking,
            "UPDATE planning_board SET state = 'revisit', attempts = %(attempts)s, "
            "visit_id = NULL, first_day = NULL, last_day = NULL WHERE case_id = %(case_id)s",
            {"case_id": e.case_id, "attempts": e.attempt_number},
        )


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

    def change(self, tracking: Tracking, sql: str, params: dict[str, Any]) -> None:
        with self.tracked(tracking) as cursor:
            cursor.execute(sql.encode(), params)

    def visit(self, visit_id: UUID) -> DictRow | None:
        rows = self.query("SELECT * FROM visit_record WHERE visit_id = %s", (visit_id,))
        return rows[0] if rows else None

    def agenda(self, worker: str, day: date, districts: list[str]) -> list[DictRow]:
        """The announced visits of ``worker`` whose date or window includes ``day``."""
        return self.query(
            "SELECT * FROM visit_record WHERE status = 'announced' "
            "AND %(worker)s = ANY(workers) AND first_day <= %(day)s AND last_day >= %(day)s "
            "AND district = ANY(%(districts)s) ORDER BY visit_id",
            {"worker": worker, "day": day, "districts": districts},
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
        self.view.change(
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
        self.view.change(
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
        self.view.change(
            tracking,
            "UPDATE visit_record SET status = %(status)s, cancelled_reason = %(reason)s, "
            "cancelled_on = %(cancelled_on)s, version = %(version)s WHERE visit_id = %(visit_id)s",
            {
                "visit_id": e.originator_id,
                "version": e.originator_version,
                "status": VisitStatus.CANCELLED.value,
                "reason": e.reason,
                "cancelled_on": e.cancelled_on,
            },
        )

    @process_event.register
    def _(self, e: Visit.Completed, tracking: Tracking) -> None:
        self.view.change(
            tracking,
            "UPDATE visit_record SET status = %(status)s, outcome = %(outcome)s, "
            "needs = %(needs)s, note_token = %(note)s, "
            "coaching_referral_consent = %(consent)s, next_step = %(next_step)s, "
            "completed_on = %(completed_on)s, attempt_number = %(attempt_number)s, "
            "version = %(version)s WHERE visit_id = %(visit_id)s",
            {
                "visit_id": e.originator_id,
                "version": e.originator_version,
                "status": VisitStatus.COMPLETED.value,
                "outcome": e.outcome,
                "needs": list(e.needs),
                "note": e.note,
                "consent": e.coaching_referral_consent,
                "next_step": e.next_step,
                "completed_on": e.completed_on,
                "attempt_number": e.attempt_number,
            },
        )


FORGET: Forget = forget_all(
    blank_tokens("planning_board", "name_token", "address_token"),
    blank_tokens(
        "visit_record", "name_token", "address_token", "place_description_token", "note_token"
    ),
)
"""What visits forgets of an erased person: every sealed field on the board and in the visit
records (name, address, place, note) becomes ``[erased]``; dates, outcomes and attempts
(no personal data) stay."""
