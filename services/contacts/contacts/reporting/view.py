"""The outreach figures' tables and the consumers that fill them from the product topics.

Three consumer groups of their own, ``<prefix>-report-contacts``, ``-report-visits`` and
``-report-coaching`` (one per topic), write into three tables of their own; each message's
effect and its row in ``processed_messages`` are one transaction (a batch of them in one),
so a message delivered twice counts once.

- ``outreach_report_counts``: per district, month and figure, how many events counted it.
- ``outreach_report_open_cases``: a case whose contact is lost, while it is lost: its id,
  the person's pseudonym (so that an erasure forgets it) and the day it was reported — the
  start of the days until the contact is restored. No personal data. The row is deleted
  when the contact is restored (its days go into the next table) and when the person is
  erased; a case reported for a person erased already is not kept at all.
- ``outreach_report_restored_days``: per district and month of restoration, how many cases
  took how many days from the report to the restored contact (the median is read from it;
  it names no case).

The counts do not depend on the order the three topics are read in; the days need a case's
``ContactLost`` before its ``ContactRestored``, which the contacts topic keeps (both are keyed
by the person).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow

from contacts.reporting.figures import COUNTED_EVENTS, FIGURES, GERMANY, counted, month_of
from shared.contracts import Envelope, Payload, topic_of
from shared.contracts.contacts import ContactLost, ContactRestored
from shared.erasure import ErasureLedgerView
from shared.eventsourcing.views import TrackedView
from shared.messaging.consumer import Consumer, view_effect

REPORT_TOPICS: tuple[str, ...] = (topic_of("contacts"), topic_of("visits"), topic_of("coaching"))

TABLES = ("outreach_report_counts", "outreach_report_open_cases", "outreach_report_restored_days")


def consumer_name(prefix: str, topic: str) -> str:
    """``<prefix>-report-<contacts|visits|coaching>``."""
    return f"{prefix}-report-{topic.rsplit('.', 1)[-1]}"


class OutreachReportView(TrackedView):
    """The counts behind ``GET /reports/outreach`` (no personal data, no case in them)."""

    schema = (
        """CREATE TABLE IF NOT EXISTS outreach_report_counts (
            district text NOT NULL,
            month date NOT NULL,
            figure text NOT NULL,
            value integer NOT NULL,
            PRIMARY KEY (district, month, figure)
        )""",
        """CREATE TABLE IF NOT EXISTS outreach_report_open_cases (
            case_id uuid PRIMARY KEY,
            subject_id uuid NOT NULL,
            lost_on date NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS outreach_report_open_cases_subject "
        "ON outreach_report_open_cases (subject_id)",
        """CREATE TABLE IF NOT EXISTS outreach_report_restored_days (
            district text NOT NULL,
            month date NOT NULL,
            days integer NOT NULL,
            cases integer NOT NULL,
            PRIMARY KEY (district, month, days)
        )""",
        # Who read which figures (no person's data in them; not emptied by a rebuild).
        """CREATE TABLE IF NOT EXISTS report_reads (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            user_id text NOT NULL,
            role text NOT NULL,
            user_districts text[] NOT NULL,
            districts text[] NOT NULL,
            first_month date NOT NULL,
            last_month date NOT NULL,
            form text NOT NULL
        )""",
        # Which persons are erased: a case reported for one of them is not kept.
        ErasureLedgerView.schema[0],
    )
    rebuild_tables = TABLES

    # --- the effects (write only: a batch's statements are pipelined) -------------------

    @staticmethod
    def apply(cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
        """Count ``envelope``; keep or close its case's days."""
        figures = counted(envelope)
        if figures is not None:
            cursor.execute(
                b"INSERT INTO outreach_report_counts (district, month, figure, value) "
                b"SELECT %s, %s, unnest(%s::text[]), 1 ON CONFLICT (district, month, figure) "
                b"DO UPDATE SET value = outreach_report_counts.value + 1",
                (figures.district, figures.month, list(figures.figures)),
            )
        payload = envelope.payload
        if isinstance(payload, ContactLost):
            cursor.execute(
                b"INSERT INTO outreach_report_open_cases (case_id, subject_id, lost_on) "
                b"SELECT %(case)s, %(subject)s, %(lost_on)s WHERE NOT EXISTS "
                b"(SELECT 1 FROM erasure_ledger WHERE subject_id = %(subject)s) "
                b"ON CONFLICT (case_id) DO NOTHING",
                {
                    "case": payload.case_id,
                    "subject": envelope.subject,
                    "lost_on": envelope.occurred_at.astimezone(GERMANY).date(),
                },
            )
        elif isinstance(payload, ContactRestored):
            cursor.execute(
                b"WITH closed AS (DELETE FROM outreach_report_open_cases WHERE case_id = %(case)s "
                b"RETURNING lost_on) "
                b"INSERT INTO outreach_report_restored_days (district, month, days, cases) "
                b"SELECT %(district)s, %(month)s, greatest(%(restored_on)s - lost_on, 0), 1 "
                b"FROM closed ON CONFLICT (district, month, days) "
                b"DO UPDATE SET cases = outreach_report_restored_days.cases + 1",
                {
                    "case": payload.case_id,
                    "district": envelope.district,
                    "month": month_of(payload.restored_on),
                    "restored_on": payload.restored_on,
                },
            )

    @staticmethod
    def forget(cursor: Cursor[DictRow], subject_id: UUID) -> None:
        """The erased person's open cases go (the counts and days name nobody)."""
        cursor.execute(
            b"DELETE FROM outreach_report_open_cases WHERE subject_id = %s", (subject_id,)
        )

    # --- reads ----------------------------------------------------------------------------

    def counts(
        self, districts: Collection[str], first: date, last: date
    ) -> dict[tuple[str, date], dict[str, int]]:
        """The counts of ``districts`` from month ``first`` to month ``last``."""
        rows = self.query(
            "SELECT district, month, figure, value FROM outreach_report_counts "
            "WHERE district = ANY(%s) AND month BETWEEN %s AND %s",
            (sorted(districts), first, last),
        )
        found: dict[tuple[str, date], dict[str, int]] = {}
        for row in rows:
            if row["figure"] in FIGURES:
                cell = found.setdefault((row["district"], row["month"]), {})
                cell[row["figure"]] = int(row["value"])
        return found

    def restored_days(
        self, districts: Collection[str], first: date, last: date
    ) -> dict[tuple[str, date], list[tuple[int, int]]]:
        """Per district and month: (days, cases) of the contacts restored."""
        rows = self.query(
            "SELECT district, month, days, cases FROM outreach_report_restored_days "
            "WHERE district = ANY(%s) AND month BETWEEN %s AND %s ORDER BY days",
            (sorted(districts), first, last),
        )
        found: dict[tuple[str, date], list[tuple[int, int]]] = {}
        for row in rows:
            found.setdefault((row["district"], row["month"]), []).append(
                (int(row["days"]), int(row["cases"]))
            )
        return found

    def districts_in(self, month: date, limit: int) -> list[str]:
        """The districts with figures in ``month`` (at most ``limit``, by name)."""
        rows = self.query(
            "SELECT DISTINCT district FROM outreach_report_counts WHERE month = %s "
            "ORDER BY district LIMIT %s",
            (month, limit),
        )
        return [row["district"] for row in rows]

    def record_read(
        self,
        *,
        user: str,
        role: str,
        user_districts: Sequence[str],
        districts: Sequence[str],
        first: date,
        last: date,
        form: str,
    ) -> None:
        """Note who read which figures (before they are answered)."""
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                b"INSERT INTO report_reads (user_id, role, user_districts, districts, "
                b"first_month, last_month, form) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (user, role, list(user_districts), list(districts), first, last, form),
            )

    def reads(
        self,
        districts: Collection[str],
        *,
        user: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[DictRow]:
        """The reads of figures of any of ``districts``, in time order (as the access log),
        filtered by user and time."""
        return self.query(
            "SELECT id, at, user_id, role, districts, first_month, last_month, form "
            "FROM report_reads WHERE districts && %(districts)s::text[] "
            "AND (%(user)s::text IS NULL OR user_id = %(user)s) "
            "AND (%(since)s::timestamptz IS NULL OR at >= %(since)s) "
            "AND (%(until)s::timestamptz IS NULL OR at < %(until)s) "
            "ORDER BY at, id LIMIT %(limit)s",
            {
                "districts": sorted(districts),
                "user": user,
                "since": since,
                "until": until,
                "limit": limit,
            },
        )

    def reset(self, cursor: Cursor[DictRow], consumers: Sequence[str]) -> None:
        """Empty the tables and forget which messages ``consumers`` applied, in the
        transaction of ``cursor`` (holding the tables locked until it ends)."""
        cursor.execute(("LOCK TABLE " + ", ".join(TABLES) + " IN EXCLUSIVE MODE").encode())
        cursor.execute(("TRUNCATE " + ", ".join(TABLES)).encode())
        cursor.execute(
            b"DELETE FROM processed_messages WHERE consumer = ANY(%s)", (list(consumers),)
        )


def report_consumers(
    view: OutreachReportView, *, prefix: str, topics: Sequence[str] = REPORT_TOPICS
) -> list[Consumer]:
    """One consumer group per product topic, counting into ``view``."""
    effect = view_effect(view, view.apply)
    return [
        Consumer(
            name=consumer_name(prefix, topic),
            topic=topic,
            effect=effect,
            event_types=COUNTED_EVENTS,
            description="The outreach figures (counts per district and month, no identifiers).",
        )
        for topic in topics
    ]
