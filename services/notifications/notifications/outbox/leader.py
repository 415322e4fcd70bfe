"""The outbox's leader loop: only one outbox of a deployment sends at a time.

A replica that gets the PostgreSQL advisory lock runs the step every ``interval_seconds``
and checks after each round that the lock is still its own (the connection holding it is
alive); the others wait in standby and try again. Kept apart from what the outbox does, so
that the outbox's sending does not depend on how its leadership is held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)


async def as_leader(
    stopping: asyncio.Event,
    *,
    dsn: str,
    lock_key: str,
    step: Callable[[], object],
    interval_seconds: float,
    active: Callable[[bool], None],
    standby_seconds: float = 2.0,
) -> None:
    """Run ``step`` (in a thread) every ``interval_seconds`` while this process holds the
    lock ``lock_key`` of the database at ``dsn``, until ``stopping`` is set. ``active`` is
    told when the lock is won and lost; an error is logged and the loop resumes."""
    while not stopping.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                cursor = await conn.execute(
                    "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (lock_key,)
                )
                row = await cursor.fetchone()
                if row and row[0]:
                    active(True)
                    try:
                        while not stopping.is_set():
                            await asyncio.to_thread(step)
                            await conn.execute("SELECT 1")  # the lock is still ours
                            await _pause(stopping, interval_seconds)
                    finally:
                        active(False)
        except Exception:
            log.exception("outbox interrupted; resuming")
        await _pause(stopping, standby_seconds)


async def _pause(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
