"""Several processes of one deployment start at once (N api processes, a worker
beside them) and create the same schema in the same new database."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import psycopg
import pytest
from contacts.application import Contacts
from contacts.projections.detail import CaseDetailView
from contacts.projections.queue import CaseQueueView

from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.views import build_view
from shared.runtime.infrastructure import schema_lock
from shared.settings import ServiceSettings
from tests.support.helpers import scratch_database

pytestmark = pytest.mark.integration

STARTING_TOGETHER = 6


@pytest.fixture
def new_database(stack: ServiceSettings) -> Iterator[str]:
    with scratch_database(stack, "schema_race") as name:
        yield name


def create_together(stack: ServiceSettings, database: str, *, locked: bool) -> list[BaseException]:
    """Every starter creates the event store and two views at the same moment."""
    env = eventsourcing_env(stack, database, POSTGRES_POOL_SIZE="1")
    barrier = threading.Barrier(STARTING_TOGETHER)
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            lock = schema_lock(stack.database_url(database), database)
            with lock if locked else contextlib.nullcontext():
                build_view(CaseQueueView, env, "case_queue")
                build_view(CaseDetailView, env, "case_detail")
                Contacts(env).close()
        except BaseException as error:  # collected for the assertion
            errors.append(error)

    starters = [threading.Thread(target=start) for _ in range(STARTING_TOGETHER)]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join()
    return errors


def test_processes_creating_the_schema_at_once_under_the_schema_lock_all_succeed(
    stack: ServiceSettings, new_database: str
) -> None:
    assert create_together(stack, new_database, locked=True) == []
    with psycopg.connect(stack.database_url(new_database)) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
    assert {"case_queue", "case_queue_tracking", "case_detail", "contacts_events"} <= tables


def test_without_the_schema_lock_creating_the_schema_at_once_fails_in_postgresql(
    stack: ServiceSettings,
) -> None:
    """Why the lock is there: PostgreSQL fails concurrent ``CREATE … IF NOT EXISTS`` of the
    same object with a unique violation on its catalogue (at least once in a few tries)."""
    failures: list[BaseException] = []
    for _ in range(5):
        with scratch_database(stack, "schema_race") as name:
            failures += create_together(stack, name, locked=False)
        if failures:
            break
    assert failures, "concurrent schema creation never failed: is the lock still needed?"
