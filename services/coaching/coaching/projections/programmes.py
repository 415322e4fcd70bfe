"""The group programmes (``programme_roster``, following the service's own event log):
rosters and attendance."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from coaching.domain import Programme
from coaching.projections import topics_of
from shared.eventsourcing.views import TrackedView


class ProgrammeView(TrackedView):
    schema = (
        """CREATE TABLE IF NOT EXISTS programmes (
            programme_id uuid PRIMARY KEY,
            district text NOT NULL,
            local_office text NOT NULL,
            title text NOT NULL,
            target_group text NOT NULL,
            dates jsonb NOT NULL,
            capacity int NOT NULL,
            open_to_neighbouring boolean NOT NULL,
            mobile boolean NOT NULL,
            enrolled int NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE IF NOT EXISTS programme_participants (
            programme_id uuid NOT NULL,
            case_id uuid NOT NULL,
            subject_id uuid NOT NULL,
            participant_district text NOT NULL,
            enrolled_on date NOT NULL,
            completed_on date,
            PRIMARY KEY (programme_id, case_id)
        )""",
        """CREATE TABLE IF NOT EXISTS programme_attendance (
            programme_id uuid NOT NULL,
            case_id uuid NOT NULL,
            session_on date NOT NULL,
            present boolean NOT NULL,
            PRIMARY KEY (programme_id, case_id, session_on)
        )""",
    )

    def programmes(self, district: str) -> list[DictRow]:
        """The district's programmes, and its neighbours' programmes open to other districts."""
        return self.query(
            "SELECT * FROM programmes WHERE district = %(district)s OR open_to_neighbouring "
            "ORDER BY dates->>0, title, programme_id",
            {"district": district},
        )

    def programme(self, programme_id: UUID) -> DictRow | None:
        rows = self.query("SELECT * FROM programmes WHERE programme_id = %s", (programme_id,))
        return rows[0] if rows else None

    def roster(self, programme_id: UUID) -> list[DictRow]:
        return self.query(
            "SELECT * FROM programme_participants WHERE programme_id = %s "
            "ORDER BY enrolled_on, case_id",
            (programme_id,),
        )

    def attendance(self, programme_id: UUID) -> list[DictRow]:
        return self.query(
            "SELECT case_id, session_on, present FROM programme_attendance "
            "WHERE programme_id = %s ORDER BY session_on, case_id",
            (programme_id,),
        )

    def participations_of(self, subject_id: UUID, districts: list[str]) -> list[DictRow]:
        """The person's participations in programmes of ``districts`` (their Art. 15
        export), with each programme's title and district."""
        return self.query(
            "SELECT p.*, g.title, g.district AS programme_district FROM programme_participants p "
            "JOIN programmes g USING (programme_id) WHERE p.subject_id = %s "
            "AND g.district = ANY(%s) ORDER BY p.enrolled_on",
            (subject_id, districts),
        )


class ProgrammeProjection(Projection[ProgrammeView]):
    name = "programme_roster"
    topics = topics_of(
        Programme.Planned,
        Programme.ParticipantEnrolled,
        Programme.AttendanceRecorded,
        Programme.ParticipationCompleted,
    )

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, e: Programme.Planned, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO programmes VALUES (%(id)s, %(district)s, %(local_office)s, "
            "%(title)s, %(target_group)s, %(dates)s, %(capacity)s, "
            "%(open_to_neighbouring)s, %(mobile)s, 0) ON CONFLICT DO NOTHING",
            {
                "id": e.originator_id,
                "district": e.district,
                "local_office": e.local_office,
                "title": e.title,
                "target_group": e.target_group,
                "dates": Jsonb([d.isoformat() for d in e.dates]),
                "capacity": e.capacity,
                "open_to_neighbouring": e.open_to_neighbouring,
                "mobile": e.mobile,
            },
        )

    @process_event.register
    def _(self, e: Programme.ParticipantEnrolled, tracking: Tracking) -> None:
        params = {
            "id": e.originator_id,
            "case_id": e.case_id,
            "subject_id": e.subject_id,
            "participant_district": e.participant_district,
            "enrolled_on": e.enrolled_on,
        }
        with self.view.tracked(tracking) as cursor:
            cursor.execute(
                b"INSERT INTO programme_participants VALUES (%(id)s, %(case_id)s, "
                b"%(subject_id)s, %(participant_district)s, %(enrolled_on)s, NULL) "
                b"ON CONFLICT DO NOTHING",
                params,
            )
            cursor.execute(
                b"UPDATE programmes SET enrolled = enrolled + 1 WHERE programme_id = %(id)s",
                params,
            )

    @process_event.register
    def _(self, e: Programme.AttendanceRecorded, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO programme_attendance VALUES (%(id)s, %(case_id)s, %(session_on)s, "
            "%(present)s) ON CONFLICT (programme_id, case_id, session_on) "
            "DO UPDATE SET present = EXCLUDED.present",
            {
                "id": e.originator_id,
                "case_id": e.case_id,
                "session_on": e.session_on,
                "present": e.present,
            },
        )

    @process_event.register
    def _(self, e: Programme.ParticipationCompleted, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE programme_participants SET completed_on = %(completed_on)s "
            "WHERE programme_id = %(id)s AND case_id = %(case_id)s",
            {"id": e.originator_id, "case_id": e.case_id, "completed_on": e.completed_on},
        )
