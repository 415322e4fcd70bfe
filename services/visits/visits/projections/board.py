"""The planning board of a district: who the outreach team has to plan, announce or visit
again.

Two writers, each with its own tracking table: the contacts events from Kafka (who is to be
visited; ``visits.messaging``, :meth:`PlanningBoardView.apply_contact_event`) and
:class:`BoardVisitsProjection` following the visits event log (what is announced, overdue,
to be visited again). No row holds anything that marks a person for not being met or for
refusing entry: the board only counts visits, and flags a case for the team lead after the
district's maximum of them.
"""

from __future__ import annotations

from collections.abc import Collection
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
from shared.eventsourcing.views import TrackedView
from visits.domain import Visit
from visits.projections import VISIT_TOPICS

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

    def of_subject(self, subject: UUID, districts: Collection[str]) -> list[DictRow]:
        """The person's rows in ``districts`` (their Art. 15 export)."""
        return self.query(
            "SELECT * FROM planning_board WHERE subject_id = %s AND district = ANY(%s) "
            "ORDER BY case_id",
            (subject, sorted(districts)),
        )

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


class BoardVisitsProjection(Projection[BoardVisitsView]):
    name = "planning_board_visits"
    topics = VISIT_TOPICS

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, e: Visit.Announced, tracking: Tracking) -> None:
        self.view.execute(
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
        self.view.execute(
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
        self.view.execute(
            tracking,
            "UPDATE planning_board SET state = CASE WHEN attempts > 0 THEN 'revisit' "
            "ELSE 'to_plan' END, visit_id = NULL, first_day = NULL, last_day = NULL "
            "WHERE visit_id = %(visit_id)s",
            {"visit_id": e.originator_id},
        )

    @process_event.register
    def _(self, e: Visit.Completed, tracking: Tracking) -> None:
        if VisitOutcome(e.outcome).contact_made:
            self.view.execute(
                tracking,
                "DELETE FROM planning_board WHERE case_id = %(case_id)s",
                {"case_id": e.case_id},
            )
            return
        # Not met, or entry refused: the same for the board — visit again, and count it.
        self.view.execute(
            tracking,
            "UPDATE planning_board SET state = 'revisit', attempts = %(attempts)s, "
            "visit_id = NULL, first_day = NULL, last_day = NULL WHERE case_id = %(case_id)s",
            {"case_id": e.case_id, "attempts": e.attempt_number},
        )
