"""A service process stopped with SIGTERM drains first (``shared.runtime.drain``): readiness
answers 503 and every answer closes its connection, the requests keep being served, and
only after the drain does the server's own SIGTERM handler stop it."""

from __future__ import annotations

import asyncio
import os
import signal
from types import FrameType

import httpx
import pytest
from fastapi import FastAPI

from shared.http.app import http_app
from shared.runtime.drain import CloseWhileDraining, Drain

pytestmark = pytest.mark.unit


def app_with(drain: Drain) -> FastAPI:
    app = http_app(title="t", description="d", readiness={})
    app.state.drain = drain
    app.add_middleware(CloseWhileDraining, drain=drain)

    @app.get("/work")
    async def work() -> dict[str, str]:
        return {"done": "yes"}

    return app


async def answers(app: FastAPI) -> tuple[httpx.Response, httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/readyz"), await client.get("/work")


def test_while_draining_readiness_is_refused_and_answers_close_their_connection() -> None:
    drain = Drain(seconds=5)
    ready, work = asyncio.run(answers(app_with(drain)))
    assert ready.status_code == 200
    assert work.headers.get("connection") != "close"

    drain.draining = True
    ready, work = asyncio.run(answers(app_with(drain)))
    assert ready.status_code == 503
    assert ready.json()["status"] == "draining"
    assert work.status_code == 200  # still served
    assert work.headers["connection"] == "close"


def test_sigterm_starts_the_drain_and_stops_the_server_only_after_it() -> None:
    stopped: list[float] = []
    drain = Drain(seconds=0.3)

    def server_stop(sig: int, frame: FrameType | None) -> None:
        stopped.append(asyncio.get_running_loop().time())

    async def run() -> float:
        loop = asyncio.get_running_loop()
        drain.install()
        signalled = loop.time()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert drain.draining
        assert not stopped
        os.kill(os.getpid(), signal.SIGTERM)  # a second SIGTERM does not stop it sooner
        await asyncio.sleep(0.05)
        assert not stopped
        while not stopped:
            await asyncio.sleep(0.05)
        return signalled

    previous = signal.signal(signal.SIGTERM, server_stop)
    try:
        signalled = asyncio.run(run())
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert len(stopped) == 1
    assert stopped[0] - signalled >= 0.3
