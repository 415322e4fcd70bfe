"""A periodic round of background work survives a failing round."""

from __future__ import annotations

import asyncio

import pytest

from shared.runtime.background import every

pytestmark = pytest.mark.unit


async def test_a_failing_round_is_logged_and_the_next_round_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rounds: list[int] = []
    stopping = asyncio.Event()

    async def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise ConnectionError("the database is away")
        if len(rounds) == 3:
            stopping.set()

    async with asyncio.timeout(10):
        await every(0.01, work, name="test work")(stopping)

    assert rounds == [0, 1, 2]
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "test work failed; trying again in 0.01 s"
    ]


async def test_work_stops_when_asked_between_rounds() -> None:
    stopping = asyncio.Event()
    rounds: list[None] = []

    async def work() -> None:
        rounds.append(None)
        stopping.set()

    async with asyncio.timeout(10):
        await every(3600, work)(stopping)

    assert rounds == [None]
