"""Connection pools after the server ended their connections (as a restart of PostgreSQL
does, here ``pg_terminate_backend``): the next caller gets a working connection, not one that
fails its first query."""

from __future__ import annotations

import contextlib
import select
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from shared.database import connection_pool
from shared.eventstore import OutreachPostgresFactory, eventsourcing_env
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE, eventually

pytestmark = pytest.mark.integration

CONNECTIONS = 3


def end_sessions(settings: ServiceSettings, pool: ConnectionPool[Any]) -> None:
    """Have the server end every connection ``pool`` holds, and wait until they are gone."""
    with contextlib.ExitStack() as held:
        conns = [held.enter_context(pool.connection()) for _ in range(CONNECTIONS)]
        pids = [conn.info.backend_pid for conn in conns]
    with psycopg.connect(settings.database_url(TEST_DATABASE), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", (pids,))

        def gone() -> bool:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone()
            return row is not None and row[0] == 0

        eventually(gone, timeout=10, what="the sessions ended")


@pytest.fixture
def service_pool(stack: ServiceSettings) -> Iterator[ConnectionPool[Any]]:
    pool = connection_pool(
        stack.database_url(TEST_DATABASE), min_size=CONNECTIONS, max_size=CONNECTIONS
    )
    pool.open(wait=True)
    yield pool
    pool.close()


@pytest.fixture
def event_store_pool(stack: ServiceSettings) -> Iterator[ConnectionPool[Any]]:
    env = eventsourcing_env(
        stack,
        TEST_DATABASE,
        POSTGRES_POOL_SIZE=str(CONNECTIONS),
        POSTGRES_MAX_OVERFLOW="0",
    )
    factory = OutreachPostgresFactory(env)
    pool = factory.datastore.pool
    pool.open(wait=True)
    yield pool
    factory.close()


@pytest.mark.parametrize("which", ["service_pool", "event_store_pool"])
def test_connections_the_server_ended_are_replaced_before_they_are_handed_out(
    stack: ServiceSettings, which: str, request: pytest.FixtureRequest
) -> None:
    pool: ConnectionPool[Any] = request.getfixturevalue(which)
    end_sessions(stack, pool)

    for _ in range(CONNECTIONS):
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() is not None


def test_a_pooled_connection_that_receives_notifications_is_kept(
    stack: ServiceSettings,
) -> None:
    """A connection that once ran ``LISTEN`` (an event-log subscription's) goes on receiving
    notifications in the pool: that is no sign of a server that went away."""
    pool = connection_pool(stack.database_url(TEST_DATABASE), min_size=1, max_size=1)
    pool.open(wait=True)
    try:
        with pool.connection() as conn:
            conn.execute("LISTEN pool_test")
            listening = conn.info.backend_pid
        with psycopg.connect(stack.database_url(TEST_DATABASE), autocommit=True) as other:
            for _ in range(3):
                other.execute("NOTIFY pool_test, 'x'")

        def delivered() -> bool:
            # The idle connection, as it waits in the pool (psycopg_pool keeps it there).
            waiting = select.poll()
            waiting.register(pool._pool[0].pgconn.socket, select.POLLIN)
            return bool(waiting.poll(0))

        eventually(delivered, timeout=10, what="the notifications on the pooled connection")

        with pool.connection() as conn:
            assert conn.info.backend_pid == listening
            assert conn.execute("SELECT 1").fetchone() is not None
    finally:
        pool.close()
