"""The queue's counts against the real PostgreSQL: ``case_queue_totals`` (kept by triggers on
``case_queue``) always gives the counts a count of the queue's rows gives — after single
changes, bulk statements, a ``COPY``, concurrent transactions, a rebuild, and when the
totals are added to a queue that already holds cases."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from contacts.application import Contacts, PersonDetails
from contacts.projections.queue import CaseQueueProjection, CaseQueueView
from eventsourcing.persistence import Tracking

from shared.contracts.contacts import CaseClosedReason, ContactChannel, ContactLostReason
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.rebuild import rebuild_projection, reset_view
from shared.eventsourcing.views import build_view
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.helpers import scratch_database

pytestmark = pytest.mark.integration

TODAY = date(2026, 6, 15)
DAYS = [TODAY + timedelta(days=d) for d in (-40, -20, -14, -1, 0, 1, 13, 14, 15, 30, 60)]
"""Days to read the counts on: the deadline buckets move with the day."""

RECOUNT = (
    "SELECT count(*) AS open, "
    "count(*) FILTER (WHERE status = 'contact_lost') AS contact_lost, "
    "count(*) FILTER (WHERE status = 'contact_restored') AS contact_restored, "
    "count(*) FILTER (WHERE deadline < %(today)s) AS deadline_passed, "
    "count(*) FILTER (WHERE deadline >= %(today)s AND deadline < %(today)s + 14) "
    "AS deadline_within_14_days "
    "FROM case_queue WHERE district = %(district)s"
)
"""The counts straight from the queue's rows (what the view answered before the totals)."""


@pytest.fixture
def database(stack: ServiceSettings) -> Iterator[str]:
    with scratch_database(stack, "queue_counts") as name:
        yield name


@pytest.fixture
def view(stack: ServiceSettings, database: str) -> CaseQueueView:
    return build_view(CaseQueueView, eventsourcing_env(stack, database), "case_queue")


def execute(stack: ServiceSettings, database: str, statement: str, params: Any = None) -> None:
    with psycopg.connect(stack.database_url(database), autocommit=True) as conn:
        conn.execute(statement.encode(), params)


def recount(stack: ServiceSettings, database: str, district: str, today: date) -> dict[str, int]:
    with psycopg.connect(stack.database_url(database)) as conn:
        row = conn.execute(RECOUNT.encode(), {"district": district, "today": today}).fetchone()
        assert row is not None
        names = ("open", "contact_lost", "contact_restored", "deadline_passed")
        return dict(zip((*names, "deadline_within_14_days"), map(int, row), strict=True))


def districts_of(stack: ServiceSettings, database: str) -> list[str]:
    with psycopg.connect(stack.database_url(database)) as conn:
        rows = conn.execute(
            "SELECT district FROM case_queue UNION SELECT district FROM case_queue_totals"
        ).fetchall()
        return sorted(str(district) for (district,) in rows)


def assert_counts_match_the_rows(view: CaseQueueView, stack: ServiceSettings, db: str) -> None:
    """For every district and every day: the view's counts equal a recount of the rows, and
    the totals hold no empty or negative row."""
    for district in districts_of(stack, db):
        for day in DAYS:
            assert view.counts(district, day) == recount(stack, db, district, day), (district, day)
    with psycopg.connect(stack.database_url(db)) as conn:
        empty = conn.execute("SELECT count(*) FROM case_queue_totals WHERE cases <= 0").fetchone()
    assert empty == (0,)


def row(n: int, district: str, deadline: date | None, **fields: Any) -> dict[str, Any]:
    return {
        "case_id": uuid.UUID(int=n + 1),
        "district": district,
        "local_office": "mitte",
        "status": "contact_lost",
        "reason": "unanswered_invitations",
        "deadline": deadline,
        "reported_on": TODAY - timedelta(days=30),
        "last_contact_on": None,
        "unanswered_letters": 2,
        "missed_appointments": 0,
        "name_token": f"name-{n}",
        **fields,
    }


def copy_rows(stack: ServiceSettings, database: str, rows: list[dict[str, Any]]) -> None:
    """``rows`` into the queue with one ``COPY`` (one statement, as the bench seeds)."""
    with (
        psycopg.connect(stack.database_url(database)) as conn,
        conn.cursor() as cursor,
        cursor.copy("COPY case_queue FROM STDIN") as copy,
    ):
        for values in rows:
            copy.write_row(tuple(values.values()))


def tracking(n: int) -> Tracking:
    return Tracking("test_contacts", n)


def test_counts_follow_inserts_status_changes_deadline_moves_and_removals(
    view: CaseQueueView, stack: ServiceSettings, database: str
) -> None:
    deadlines: list[date | None] = [TODAY + timedelta(days=d) for d in range(-30, 31, 3)]
    deadlines.append(None)
    for n, deadline in enumerate(deadlines * 2):
        view.add(row(n, "north" if n % 3 else "south", deadline), tracking(n + 1))
    assert_counts_match_the_rows(view, stack, database)

    cases = len(deadlines) * 2
    restored = [uuid.UUID(int=n + 1) for n in range(0, cases, 4)]
    for i, case_id in enumerate(restored):
        view.update(case_id, tracking(100 + i), status="contact_restored")
    view.update(uuid.UUID(int=2), tracking(200), name_token="renamed")  # no key changes
    assert_counts_match_the_rows(view, stack, database)

    # Deadlines across the buckets (passed, within 14 days, later, none) and back.
    moves = {1: TODAY - timedelta(days=5), 2: TODAY + timedelta(days=3), 3: None, 5: TODAY}
    for i, (n, deadline) in enumerate(moves.items()):
        view.update(uuid.UUID(int=n + 1), tracking(300 + i), deadline=deadline)
    view.update(uuid.UUID(int=4), tracking(310), deadline=TODAY + timedelta(days=40))
    assert_counts_match_the_rows(view, stack, database)

    for i, n in enumerate(range(0, cases, 5)):
        view.remove(uuid.UUID(int=n + 1), tracking(400 + i))
    view.remove(uuid.uuid4(), tracking(450))  # not in the queue: changes nothing
    view.add(row(1, "north", TODAY), tracking(451))  # already there: changes nothing
    assert_counts_match_the_rows(view, stack, database)


def test_counts_follow_statements_that_change_many_cases_at_once(
    view: CaseQueueView, stack: ServiceSettings, database: str
) -> None:
    copy_rows(
        stack,
        database,
        [
            row(n, f"d{n % 4}", None if n % 11 == 0 else TODAY + timedelta(days=n % 90 - 45))
            for n in range(600)
        ],
    )
    assert_counts_match_the_rows(view, stack, database)

    statements = [
        "UPDATE case_queue SET status = 'contact_restored' WHERE reported_on < %(today)s "
        "AND unanswered_letters = 2 AND case_id < '00000000-0000-0000-0000-000000000100'",
        "UPDATE case_queue SET deadline = deadline + 20 WHERE district = 'd1'",
        "UPDATE case_queue SET deadline = NULL WHERE district = 'd2' AND deadline < %(today)s",
        "UPDATE case_queue SET district = 'd9' WHERE district = 'd3' AND status = 'contact_lost'",
        "UPDATE case_queue SET status = 'contact_lost', deadline = %(today)s "
        "WHERE district = 'd0' AND status = 'contact_restored'",
        "DELETE FROM case_queue WHERE district = 'd2' AND deadline IS NULL",
        "DELETE FROM case_queue WHERE deadline > %(today)s + 30",
        "INSERT INTO case_queue SELECT gen_random_uuid(), district, local_office, status, reason, "
        "deadline - 7, reported_on, last_contact_on, unanswered_letters, missed_appointments, "
        "name_token FROM case_queue WHERE district = 'd9'",
    ]
    for statement in statements:
        execute(stack, database, statement, {"today": TODAY})
        assert_counts_match_the_rows(view, stack, database)

    # A rebuild empties the queue with TRUNCATE; the totals go with it.
    reset_view(view, ["case_queue"])
    assert_counts_match_the_rows(view, stack, database)
    assert view.counts("d0", TODAY) == dict.fromkeys(
        ("open", "contact_lost", "contact_restored", "deadline_passed", "deadline_within_14_days"),
        0,
    )
    view.add(row(1, "d0", TODAY), tracking(1))
    assert view.counts("d0", TODAY)["open"] == 1
    assert_counts_match_the_rows(view, stack, database)


def test_totals_added_to_a_queue_that_already_holds_cases_count_its_rows(
    stack: ServiceSettings, database: str
) -> None:
    # The queue as a database holds it from before the totals (no totals, no triggers).
    execute(stack, database, CaseQueueView.schema[0])
    copy_rows(
        stack,
        database,
        [
            row(
                n,
                f"old{n % 3}",
                None if n % 7 == 0 else TODAY + timedelta(days=n % 40 - 20),
                status="contact_restored" if n % 5 == 0 else "contact_lost",
            )
            for n in range(300)
        ],
    )

    view = build_view(CaseQueueView, eventsourcing_env(stack, database), "case_queue")
    assert_counts_match_the_rows(view, stack, database)
    assert view.counts("old1", TODAY)["open"] == 100

    # Starting again (every service start) neither counts the rows twice nor loses a trigger.
    again = build_view(CaseQueueView, eventsourcing_env(stack, database), "case_queue")
    view.add(row(1000, "old1", TODAY), tracking(1))
    view.remove(uuid.UUID(int=2), tracking(2))  # case 1, of old1
    assert again.counts("old1", TODAY)["open"] == 100
    assert_counts_match_the_rows(again, stack, database)


def test_concurrent_transactions_on_one_district_lose_no_change(
    view: CaseQueueView, stack: ServiceSettings, database: str
) -> None:
    """Writers in parallel, each adding, restoring, moving and removing cases of the same
    district and deadlines (the same rows of the totals) in its own transactions."""
    writers, rounds = 4, 40
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            with psycopg.connect(stack.database_url(database), autocommit=True) as conn:
                barrier.wait()
                for r in range(rounds):
                    n = w * 1000 + r
                    case = row(n, "busy", TODAY + timedelta(days=r % 3))
                    with conn.transaction():
                        conn.execute(
                            "INSERT INTO case_queue VALUES (%(case_id)s, %(district)s, "
                            "%(local_office)s, %(status)s, %(reason)s, %(deadline)s, "
                            "%(reported_on)s, %(last_contact_on)s, %(unanswered_letters)s, "
                            "%(missed_appointments)s, %(name_token)s)",
                            case,
                        )
                    if r % 2:
                        conn.execute(
                            "UPDATE case_queue SET status = 'contact_restored', deadline = %s "
                            "WHERE case_id = %s",
                            (TODAY + timedelta(days=(r + 1) % 3), case["case_id"]),
                        )
                    if r % 3 == 0 and r:
                        conn.execute(
                            "DELETE FROM case_queue WHERE case_id = %s",
                            (uuid.UUID(int=n),),  # the writer's previous case
                        )
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert view.counts("busy", TODAY)["open"] == recount(stack, database, "busy", TODAY)["open"]
    assert_counts_match_the_rows(view, stack, database)


def test_a_rebuilt_queue_has_the_counts_of_its_cases(
    view: CaseQueueView, stack: ServiceSettings, database: str, cipher: PersonalDataCipher
) -> None:
    app = Contacts(eventsourcing_env(stack, database), cipher=cipher)
    try:
        with acting_as(CommandContext(actor="cm-test", role="case_manager")):
            cases = [
                app.report_contact_lost(
                    district="rebuilt",
                    local_office="mitte",
                    person=PersonDetails(
                        customer_number=f"{n:03d}R{uuid.uuid4().int % 10**6:06d}",
                        name=f"Queueperson {n}",
                        address="Weg 1",
                    ),
                    reason=ContactLostReason.MAIL_RETURNED,
                    unanswered_letters=1,
                    missed_appointments=0,
                    last_contact_on=None,
                    deadline=date.today() + timedelta(days=n * 5 - 10) if n % 4 else None,
                    case_manager="cm-test",
                )
                for n in range(8)
            ]
            app.restore_contact(cases[1], channel=ContactChannel.PHONE, restored_on=date.today())
            app.close_case(cases[2], reason=CaseClosedReason.MOVED_AWAY)
        projection = CaseQueueProjection(view=view)

        for _ in range(2):  # the second rebuild truncates what the first one built
            rebuild_projection(projection, app, tables=["case_queue"], batch_size=3)
            counts = view.counts("rebuilt", date.today())
            assert counts == recount(stack, database, "rebuilt", date.today())
            assert (counts["open"], counts["contact_restored"]) == (7, 1)
        assert_counts_match_the_rows(view, stack, database)
    finally:
        app.close()
