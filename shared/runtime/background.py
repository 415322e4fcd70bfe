"""The background work of a process, written once: a round of work repeated on an interval
(:func:`every`), and work that runs only in the one process holding a PostgreSQL advisory lock
(:func:`as_leader`).

Both return a :data:`Work`: an ``async`` function that runs until the ``stopping`` event it is
given is set (what a process's lifespan starts and stops, :mod:`shared.runtime.running`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import psycopg

from shared.database import KEEPALIVES

log = logging.getLogger(__name__)

Work = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""Runs until the event is set."""


async def pause(stopping: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less once ``stopping`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


def every(interval: float, work: Callable[[], Awaitable[object]], *, name: str = "") -> Work:
    """Run ``work`` (one round) every ``interval`` seconds until stopped. A round that fails
    is logged, and the next round comes as planned: the database or Kafka being away for a
    while stops nothing for good."""
    what = name or getattr(work, "__qualname__", "background work")

    async def run(stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await work()
            except Exception:
                log.exception("%s failed; trying again in %s s", what, interval)
            await pause(stopping, interval)

    return run


def as_leader(
    dsn: str, lock_key: str, work: Work, *, retry_seconds: float = 2.0, name: str = ""
) -> Work:
    """Run ``work`` only while this process holds the session advisory lock ``lock_key``
    (``hashtextextended``) on a connection of its own to ``dsn`` (PostgreSQL itself, never a
    pooler in transaction mode: the lock belongs to the session).

    A process that does not get the lock waits in standby and tries again every
    ``retry_seconds``; when the holder dies its connection closes, the lock is released and a
    standby takes over: a killed process's connection is closed by its kernel at once, a
    vanished host's is ended by PostgreSQL's keepalives within seconds, so the standby's next
    try (within ``retry_seconds``) gets the lock. The holder checks its connection every
    ``retry_seconds``: once it is
    lost (and the lock with it) ``work`` is told to stop. ``work`` ending or failing releases
    the lock (logged), and the process competes for it again."""
    what = name or lock_key

    async def run(stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    dsn, autocommit=True, **KEEPALIVES
                ) as conn:
                    if await _try_lock(conn, lock_key):
                        log.info("%s: holding the lock", what)
                        await _lead(conn, work, stopping, retry_seconds)
            except Exception:
                log.exception("%s interrupted; resuming once it holds the lock", what)
            await pause(stopping, retry_seconds)

    return run


async def _try_lock(conn: psycopg.AsyncConnection[Any], lock_key: str) -> bool:
    cursor = await conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (lock_key,))
    row = await cursor.fetchone()
    return bool(row and row[0])


async def _lead(
    conn: psycopg.AsyncConnection[Any], work: Work, stopping: asyncio.Event, check_seconds: float
) -> None:
    """Run ``work`` until it ends, ``stopping`` is set, or the lock's connection is lost."""
    leading = asyncio.Event()
    task = asyncio.create_task(work(leading))
    stopped = asyncio.create_task(stopping.wait())
    try:
        while not task.done():
            await asyncio.wait(
                {task, stopped}, timeout=check_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            if task.done() or stopping.is_set():
                break
            try:
                await conn.execute("SELECT 1")
            except psycopg.Error:
                log.warning("the connection holding the lock is lost; stopping the work")
                break
    finally:
        leading.set()
        stopped.cancel()
        await task  # raises what ended the work
