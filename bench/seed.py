"""What the measurements put into the system: persons and their reports, imported cases, and
views seeded straight by ``COPY`` (what the projections would hold after that many cases)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from contacts.application import CaseImport, Contacts, PersonDetails
from psycopg import sql

from bench.harness import Bench
from shared.contracts.contacts import ContactLostReason
from shared.eventsourcing.meta import CommandContext, acting_as

QUERY_DISTRICTS = 50
"""Seeded cases are spread over this many districts; the queries read the first one."""
IMPORT_REQUEST = 1000
"""Rows per call of ``Contacts.import_cases``: what one request of the endpoint carries."""


def person(n: int, tag: str) -> PersonDetails:
    return PersonDetails(
        customer_number=f"{n % 1000:03d}B{(n // 1000) % 1_000_000:06d}",
        name=f"Benchperson {tag} {n}",
        address=f"Messweg {n % 997} , 34{n % 1000:03d} Kassel",
        phone=f"0561 {n % 10_000_000:07d}",
        date_of_birth=date(1980 + n % 30, 1 + n % 12, 1 + n % 28),
    )


def report_body(n: int, district: str, tag: str) -> dict[str, Any]:
    """The body of ``POST /cases`` reporting person ``n``."""
    p = person(n, tag)
    return {
        "district": district,
        "local_office": "mitte",
        "person": {
            "customer_number": p.customer_number,
            "name": p.name,
            "address": p.address,
            "phone": p.phone,
            "date_of_birth": p.date_of_birth.isoformat() if p.date_of_birth else None,
        },
        "reason": "unanswered_invitations",
        "evidence": {"unanswered_letters": 3, "missed_appointments": 1},
    }


# --- imported cases ---------------------------------------------------------------------------


def import_app(bench: Bench) -> Contacts:
    return Contacts(bench.env("import"), cipher=bench.cipher)


def import_rows(first: int, count: int, tag: str) -> list[CaseImport]:
    return [
        CaseImport(
            district=f"bi-{n % 20:02d}",
            local_office="mitte",
            person=person(n, tag),
            reason=ContactLostReason.UNANSWERED_INVITATIONS,
            unanswered_letters=3,
            missed_appointments=1,
            last_contact_on=None,
            deadline=None,
            case_manager="cm-bench",
        )
        for n in range(first, first + count)
    ]


def run_import(
    app: Contacts, first: int, count: int, tag: str, progress: Callable[[int], None] | None = None
) -> int:
    """Import persons ``first`` … ``first + count - 1``; how many cases were opened."""
    imported = 0
    for start in range(first, first + count, IMPORT_REQUEST):
        rows = import_rows(start, min(IMPORT_REQUEST, first + count - start), tag)
        # Each call as one request of the endpoint: a team lead's.
        with acting_as(CommandContext(actor="tl-bench", role="team_lead")):
            results = app.import_cases(rows)
        imported += sum(1 for r in results if r.case_id is not None)
        if progress:
            progress(min(count, start + IMPORT_REQUEST - first))
    return imported


# --- views seeded by COPY ------------------------------------------------------------------


@dataclass(frozen=True)
class SeededPerson:
    subject: uuid.UUID
    name_token: str
    address_token: str


def seed_people(bench: Bench, count: int) -> list[SeededPerson]:
    """``count`` persons with their own subject (and key), name and address sealed."""
    subjects = bench.cipher.subjects_for([("bench-queries", str(i)) for i in range(count)])
    return [
        SeededPerson(
            subject,
            bench.cipher.seal(subject, f"Benchperson {i}"),
            bench.cipher.seal(subject, f"Messweg {i % 97 + 1}, 34{i % 1000:03d} Kassel"),
        )
        for i, subject in enumerate(subjects)
    ]


def seed_views(
    bench: Bench, first: int, last: int, people: list[SeededPerson], upcoming: int
) -> dict[str, float]:
    """Cases ``first..last-1`` straight into the queue and visit views (COPY): what the
    projections would hold after that many cases, spread over :data:`QUERY_DISTRICTS`.
    Returns the seconds each step took.

    Every case is open (in the queue); within a district every tenth contact is restored
    and the deadlines spread over 90 days (20 of them passed). The queue's ``COPY`` fires the
    view's own triggers, so ``case_queue_totals`` (the counts) is kept as the projection
    keeps it: one statement trigger adds up the copied rows per district, status, deadline.

    Case ``n`` has one visit: announced within the next 30 days for the first ``upcoming``
    cases (20 workers), made and completed in the past (up to three years back) for the
    later ones. A worker's day holds what a worker can visit, however many cases the views
    hold; the agenda query finds it among all visits.
    """

    def who(n: int) -> SeededPerson:  # persons vary within a district, too
        return people[(n // QUERY_DISTRICTS + n) % len(people)]

    steps: dict[str, Callable[[], None]] = {
        "case_queue_copy_s": lambda: _copy_case_queue(bench, range(first, last), who),
        "visit_record_copy_s": lambda: _copy_visit_record(bench, range(first, last), who, upcoming),
        "vacuum_s": lambda: _vacuum(bench),
    }
    seconds: dict[str, float] = {}
    for step, seed in steps.items():
        started = time.perf_counter()
        seed()
        seconds[step] = time.perf_counter() - started
    return seconds


def _copy_case_queue(bench: Bench, cases: range, who: Callable[[int], SeededPerson]) -> None:
    today = date.today()
    with (
        psycopg.connect(bench.url("contacts")) as conn,
        conn.cursor() as cursor,
        cursor.copy("COPY case_queue FROM STDIN") as copy,
    ):
        for n in cases:
            k = n // QUERY_DISTRICTS  # the case's number within its district
            copy.write_row(
                (
                    uuid.UUID(int=n + 1),
                    f"bq-{n % QUERY_DISTRICTS:02d}",
                    "mitte",
                    "contact_restored" if k % 10 == 9 else "contact_lost",
                    "unanswered_invitations",
                    today + timedelta(days=k % 90 - 20),  # 20 days passed … 69 days ahead
                    today - timedelta(days=n % 60),
                    None,
                    3,
                    1,
                    who(n).name_token,
                )
            )


VISIT_RECORD_COPY = (
    "COPY visit_record (visit_id, case_id, subject_id, district, workers, first_day, "
    "last_day, purpose, place, announced_on, announced_at, name_token, address_token, "
    "status, outcome, completed_on, version) FROM STDIN"
)


def _copy_visit_record(
    bench: Bench, cases: range, who: Callable[[int], SeededPerson], upcoming: int
) -> None:
    today, now = date.today(), datetime.now(UTC)
    with (
        psycopg.connect(bench.url("visits")) as conn,
        conn.cursor() as cursor,
        cursor.copy(VISIT_RECORD_COPY) as copy,
    ):
        for n in cases:
            copy.write_row(_visit_row(n, who(n), n < upcoming, today, now))


def _visit_row(
    n: int, person: SeededPerson, upcoming: bool, today: date, now: datetime
) -> tuple[Any, ...]:
    """Case ``n``'s visit: announced within 30 days, or completed up to 1000 days ago."""
    if upcoming:
        day = today + timedelta(days=n % 30)
        status, outcome, completed_on = "announced", None, None
    else:
        day = today - timedelta(days=1 + n % 1000)
        status, outcome, completed_on = "completed", "met_and_talked", day
    return (
        uuid.UUID(int=n + 1),
        uuid.UUID(int=n + 1),
        person.subject,
        f"bq-{n % QUERY_DISTRICTS:02d}",
        [f"ow-bench-{n % 20}"],
        day,
        day + timedelta(days=n % 3),
        "first_contact",
        "home",
        day - timedelta(days=14),
        now,
        person.name_token,
        person.address_token,
        status,
        outcome,
        completed_on,
        1 if upcoming else 2,  # the version a projected row carries (announced; completed)
    )


def _vacuum(bench: Bench) -> None:
    """What autovacuum does after a bulk load (statistics, the visibility map), not left to
    chance before measuring."""
    tables = (("contacts", "case_queue"), ("contacts", "case_queue_totals"))
    for dbname, table in (*tables, ("visits", "visit_record")):
        with psycopg.connect(bench.url(dbname), autocommit=True) as conn:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
