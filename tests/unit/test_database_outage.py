"""While the database is away, a query fails at once with an error that says so (the HTTP
API answers 503 and the caller tries again), instead of being retried for many seconds; and
every pool of a service is bounded alike. No database here: nothing listens on the port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eventsourcing import persistence
from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.postgres import PostgresDatastore

from shared.database import POOL_TIMEOUT_SECONDS, RECONNECT_SECONDS, connection_pool
from shared.eventstore import OutreachPostgresFactory, OutreachRecorder, TrackedView
from shared.settings import StackSettings

pytestmark = pytest.mark.unit

NOWHERE = StackSettings(pg_host="127.0.0.1", pg_port=9)  # the discard port: nothing listens


class CountingDatastore(PostgresDatastore):
    """A datastore whose every connection fails as one to a stopped server does."""

    def __init__(self) -> None:
        super().__init__("db", NOWHERE.pg_host, NOWHERE.pg_port, "user", "password")
        self.attempts = 0

    def register_type_adapters(self) -> None:
        """(Would ask the database for its composite types.)"""

    @contextmanager
    def get_connection(self) -> Iterator[Any]:
        self.attempts += 1
        raise persistence.OperationalError("connection refused")
        yield  # pragma: no cover


def _operations(recorder: OutreachRecorder) -> dict[str, Callable[[], object]]:
    event = StoredEvent(
        originator_id="00000000-0000-0000-0000-000000000001",
        originator_version=1,
        topic="t",
        state=b"{}",
    )
    return {
        "insert_events": lambda: recorder.insert_events([event]),
        "select_events": lambda: recorder.select_events(event.originator_id),
        "select_notifications": lambda: recorder.select_notifications(0, 10),
        "max_notification_id": recorder.max_notification_id,
        "insert_tracking": lambda: recorder.insert_tracking(Tracking("relay", 1)),
        "max_tracking_id": lambda: recorder.max_tracking_id("relay"),
        "has_tracking_id": lambda: recorder.has_tracking_id("relay", 1),
    }


EVENT_STORE_OPERATIONS = [
    "insert_events",
    "select_events",
    "select_notifications",
    "max_notification_id",
    "insert_tracking",
    "max_tracking_id",
    "has_tracking_id",
]


@pytest.mark.parametrize("operation", EVENT_STORE_OPERATIONS)
def test_an_event_store_operation_fails_at_its_first_attempt_while_the_database_is_away(
    operation: str,
) -> None:
    datastore = CountingDatastore()
    recorder = OutreachRecorder(datastore)

    with pytest.raises(persistence.OperationalError):
        _operations(recorder)[operation]()

    assert datastore.attempts == 1


@pytest.mark.parametrize("operation", ["insert_tracking", "max_tracking_id", "has_tracking_id"])
def test_a_view_operation_fails_at_its_first_attempt_while_the_database_is_away(
    operation: str,
) -> None:
    datastore = CountingDatastore()
    view = TrackedView(datastore, tracking_table_name="v_tracking")
    calls: dict[str, Callable[[], object]] = {
        "insert_tracking": lambda: view.insert_tracking(Tracking("x", 1)),
        "max_tracking_id": lambda: view.max_tracking_id("x"),
        "has_tracking_id": lambda: view.has_tracking_id("x", 1),
    }

    with pytest.raises(persistence.OperationalError):
        calls[operation]()

    assert datastore.attempts == 1


def test_the_event_store_pool_waits_briefly_for_a_connection_and_reconnects_soon() -> None:
    env = {
        "POSTGRES_DBNAME": "db",
        "POSTGRES_HOST": NOWHERE.pg_host,
        "POSTGRES_PORT": str(NOWHERE.pg_port),
        "POSTGRES_USER": "user",
        "POSTGRES_PASSWORD": "password",
    }
    pool = OutreachPostgresFactory(env).datastore.pool

    assert (pool.timeout, pool.reconnect_timeout) == (POOL_TIMEOUT_SECONDS, RECONNECT_SECONDS)
    assert pool.kwargs is not None
    assert not callable(pool.kwargs)
    assert pool.kwargs["connect_timeout"] > 0


def test_a_service_pool_waits_briefly_for_a_connection_and_reconnects_soon() -> None:
    pool = connection_pool(NOWHERE.database_url("db"), min_size=1, max_size=2)

    assert (pool.timeout, pool.reconnect_timeout) == (POOL_TIMEOUT_SECONDS, RECONNECT_SECONDS)
