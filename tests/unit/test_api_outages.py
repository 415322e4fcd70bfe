"""What every service's HTTP API answers while something it depends on is away: a 503
problem document with ``Retry-After`` when the database cannot be reached, and a readiness
answer that waits for no check that hangs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import psycopg
import pytest
from eventsourcing import persistence
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import PoolTimeout

from shared.api import PROBLEM_JSON, ReadinessCheck, create_app
from shared.database import RETRY_AFTER_SECONDS

pytestmark = pytest.mark.unit


@asynccontextmanager
async def _nothing(_: FastAPI) -> AsyncIterator[None]:
    yield


def _client(readiness: dict[str, ReadinessCheck], error: Exception | None = None) -> TestClient:
    app = create_app(title="t", description="d", lifespan=_nothing, readiness=readiness)

    @app.get("/cases")
    def cases() -> dict[str, str]:  # a sync route, run in a worker thread like the services'
        if error is not None:
            raise error
        return {}

    @app.post("/cases")
    async def report() -> dict[str, str]:
        if error is not None:
            raise error
        return {}

    return TestClient(app, raise_server_exceptions=False)


async def _yes() -> bool:
    return True


async def _hangs() -> bool:
    await asyncio.sleep(10)  # a check whose server does not answer (until a client gives up)
    return True


async def _broken() -> bool:
    raise OSError("connection refused")


@pytest.fixture
def database_away() -> Iterator[Callable[[Exception], TestClient]]:
    clients: list[TestClient] = []

    def build(error: Exception) -> TestClient:
        client = _client({"database": _yes}, error)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("connection to server at 127.0.0.1 port 25432 failed"),
        PoolTimeout("couldn't get a connection after 2.00 sec"),
        psycopg.InterfaceError("the connection is closed"),
        persistence.OperationalError("server closed the connection unexpectedly"),
        persistence.InterfaceError("the connection is lost"),
    ],
    ids=lambda error: type(error).__module__ + "." + type(error).__name__,
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_request_while_the_database_is_away_is_answered_503_with_a_problem_and_retry_after(
    database_away: Callable[[Exception], TestClient], error: Exception, method: str
) -> None:
    response = database_away(error).request(method, "/cases")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert body["status"] == 503
    # The driver's words (host, port, library) stay in the log.
    assert "25432" not in response.text
    assert "connection" not in body["detail"]


def test_readiness_answers_not_ready_without_waiting_for_a_check_that_hangs() -> None:
    with _client({"database": _yes, "kafka": _hangs, "projections": _yes}) as client:
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "kafka": False, "projections": True}


def test_readiness_counts_a_failing_check_as_not_ready() -> None:
    with _client({"database": _broken, "kafka": _yes}) as client:
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": False, "kafka": True}


def test_readiness_runs_the_checks_at_the_same_time() -> None:
    """Each check waits until every other one has started: one after the other, the first
    would give up waiting (and count as not ready)."""
    started: list[str] = []
    everyone = asyncio.Event()

    def waiting_for_the_others(name: str, total: int) -> ReadinessCheck:
        async def check() -> bool:
            started.append(name)
            if len(started) == total:
                everyone.set()
            try:
                await asyncio.wait_for(everyone.wait(), 5)
            except TimeoutError:
                return False
            return True

        return check

    names = ["database", "kafka", "projections"]
    checks = {name: waiting_for_the_others(name, len(names)) for name in names}
    with _client(checks) as client:
        response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == dict.fromkeys(names, True)
