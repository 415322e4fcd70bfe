"""Work run as leader: only the holder of the advisory lock runs it; a standby takes over when
the holder stops or its connection dies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import psycopg
import pytest

from shared.runtime.background import Work, as_leader
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE

pytestmark = pytest.mark.integration


class Replica:
    """One process's work as leader: whether it runs, how often it started and ended."""

    def __init__(self, dsn: str, key: str) -> None:
        self.running = False
        self.runs = 0
        self.ended = 0
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.work: Work = as_leader(dsn, key, self._work, retry_seconds=0.1)

    def start(self) -> Replica:
        self.task = asyncio.create_task(self.work(self.stopping))
        return self

    async def stop(self) -> None:
        self.stopping.set()
        assert self.task is not None
        await asyncio.gather(self.task, return_exceptions=True)

    async def _work(self, leading: asyncio.Event) -> None:
        self.running, self.runs = True, self.runs + 1
        try:
            await leading.wait()
        finally:
            self.running, self.ended = False, self.ended + 1


async def until(probe: Callable[[], bool]) -> None:
    async with asyncio.timeout(15):
        while not probe():
            await asyncio.sleep(0.05)


async def leader_and_standby(dsn: str, key: str) -> tuple[Replica, Replica]:
    first, second = Replica(dsn, key).start(), Replica(dsn, key).start()
    await until(lambda: first.running or second.running)
    await asyncio.sleep(0.5)  # several attempts of the standby
    assert [first.running, second.running].count(True) == 1
    return (first, second) if first.running else (second, first)


async def test_only_the_lock_holder_works_and_a_standby_takes_over_when_it_dies(
    stack: ServiceSettings,
) -> None:
    dsn = stack.database_url(TEST_DATABASE)
    leader, standby = await leader_and_standby(dsn, f"test-leader:{uuid.uuid4()}")
    try:
        assert leader.task is not None
        leader.task.cancel()  # its process dies: its connection, and the lock, go with it
        await until(lambda: standby.running)
        assert (standby.runs, leader.running) == (1, False)
    finally:
        await leader.stop()
        await standby.stop()


async def test_work_stops_when_the_connection_holding_the_lock_is_lost(
    stack: ServiceSettings,
) -> None:
    dsn = stack.database_url(TEST_DATABASE)
    key = f"test-leader:{uuid.uuid4()}"
    leader, standby = await leader_and_standby(dsn, key)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted AND objid::bigint = (hashtextextended(%s, 0) & 4294967295)",
                (key,),
            )
        await until(lambda: leader.ended == 1)
        # The lock is free again: one of the two holds it and works, never both.
        await until(lambda: leader.running or standby.running)
        assert not (leader.running and standby.running)
    finally:
        await leader.stop()
        await standby.stop()
