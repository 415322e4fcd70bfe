"""How every process of a service holds its PostgreSQL connections, so that an outage of the
database is short for everyone: a request waits a bounded time for a connection and then
fails with an error that says the database is away (the HTTP API answers 503), and every pool
connects again by itself soon after the database is back.

psycopg_pool's defaults do neither: a request waits up to 30 s for a connection, a pool whose
connections broke retries with a back-off that doubles each time for five minutes (after an
outage of a minute, its next attempt may come a minute after the database is back), and the
connections that sat idle in the pool while the database restarted are handed out one after
the other, each failing its first query.
"""

from __future__ import annotations

import contextlib
import select
import weakref
from collections.abc import Iterator
from typing import Any

import psycopg
from eventsourcing import persistence
from psycopg_pool import ConnectionPool

POOL_TIMEOUT_SECONDS = 2
"""The most a caller waits for a connection of a pool (then ``psycopg_pool.PoolTimeout``)."""

CONNECT_TIMEOUT_SECONDS = 2
"""The most one attempt to connect waits for the server (libpq's smallest)."""

RECONNECT_SECONDS = 5.0
"""How long a pool keeps retrying a broken connection's replacement (after 0, 1, 3 s …)
before it gives the attempt up; the next caller that waits for a connection starts a new
one at once. So a pool is back within a few seconds of the database, however long it was
away."""

RETRY_AFTER_SECONDS = 5
"""What a client is told to wait before it tries again while the database is away."""

DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,  # also psycopg_pool.PoolTimeout: no connection in time
    psycopg.InterfaceError,
    persistence.OperationalError,  # the eventsourcing library's for psycopg's
    persistence.InterfaceError,
)
"""The errors of a database that cannot be reached (or of a session it ended): nothing was
decided, the caller may try again."""


def _closed_by_the_server(conn: psycopg.Connection[Any]) -> bool:
    """Whether the server ended this idle connection (it restarted, or ended the session).

    An idle connection gets nothing from the server unasked but notifications (a pooled
    connection that once ran ``LISTEN`` keeps receiving them); anything else on its socket is
    the server's goodbye (a FATAL message, the end of the stream), which may come before the
    end of the stream shows. One ``poll`` call and no round trip while nothing arrived.
    """
    if conn.closed:
        return True
    pgconn = conn.pgconn
    waiting = select.poll()  # not select(): a busy process may hold descriptors above 1024
    waiting.register(pgconn.socket, select.POLLIN)
    if not waiting.poll(0):
        return pgconn.status != psycopg.pq.ConnStatus.OK
    try:
        pgconn.consume_input()
    except psycopg.OperationalError:
        return True
    notified = False
    while pgconn.notifies() is not None:  # nobody listens on a connection in the pool
        notified = True
    return not notified or pgconn.status != psycopg.pq.ConnStatus.OK


def _check_alive(pool: ConnectionPool[Any]) -> Any:
    """The pool's check of each connection it hands out. A connection the server ended means
    it restarted (or is gone): every connection that waited in the pool is as dead, so the
    pool is drained and fills again with new ones, instead of failing one request each."""

    def check(conn: psycopg.Connection[Any]) -> None:
        if _closed_by_the_server(conn):
            pool.drain()
            raise psycopg.OperationalError("the server closed the connection")

    return check


KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}
"""libpq's TCP keepalives of a connection that holds a session (a lock, ``LISTEN``): a peer
gone without a word (its host or the network) is noticed after about 11 s instead of the
kernel's two hours. PostgreSQL sends its own (deploy/local/postgres.py), so it releases the
locks of a vanished client as quickly."""

_direct: weakref.WeakKeyDictionary[ConnectionPool[Any], dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)
"""The arguments of a direct connection to each tuned pool's database (:func:`tune`)."""


def tune(
    pool: ConnectionPool[Any], *, prepare: bool = True, direct: tuple[str, int] | None = None
) -> None:
    """Bound ``pool``'s waits and attempts as above (also for a pool built by a library).

    ``prepare=False``: its connections prepare no statement (through a transaction pooler that
    does not keep them). ``direct``: the host and port of PostgreSQL itself, when the pool
    connects through a pooler (:func:`direct_connection`)."""
    pool.timeout = POOL_TIMEOUT_SECONDS
    pool.reconnect_timeout = RECONNECT_SECONDS
    # psycopg_pool (3.3) takes the check only when it is built, the eventsourcing library
    # builds its pool without one; the attribute is the one the pool calls.
    pool._check = _check_alive(pool)
    if pool.kwargs is None:
        pool.kwargs = {}
    if isinstance(pool.kwargs, dict):  # else a callable gives the arguments of each connect
        pool.kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
        if not prepare:
            pool.kwargs["prepare_threshold"] = None  # also what the library asks to prepare
        own = {k: v for k, v in pool.kwargs.items() if k != "prepare_threshold"}
        address = {"host": direct[0], "port": direct[1]} if direct else {}
        _direct[pool] = {**own, **address, **KEEPALIVES}


@contextlib.contextmanager
def direct_connection(pool: ConnectionPool[Any]) -> Iterator[psycopg.Connection[Any]]:
    """A connection of its own (autocommit) to the database of ``pool``, on PostgreSQL itself
    even when the pool connects through a pooler: for what holds a session (a session
    advisory lock, ``LISTEN``), which a pooler in transaction mode would hand to others."""
    conninfo, kwargs = direct_address(pool)
    with psycopg.connect(conninfo, autocommit=True, **kwargs) as conn:
        yield conn


def direct_address(pool: ConnectionPool[Any]) -> tuple[str, dict[str, Any]]:
    """The connection string and arguments :func:`direct_connection` connects with."""
    kwargs = _direct.get(pool) or {
        **(pool.kwargs if isinstance(pool.kwargs, dict) else {}),
        **KEEPALIVES,
    }
    conninfo = pool.conninfo if isinstance(pool.conninfo, str) else pool.conninfo()
    return conninfo, kwargs


def connection_pool(
    conninfo: str,
    *,
    min_size: int,
    max_size: int,
    prepare: bool = True,
    direct: tuple[str, int] | None = None,
) -> ConnectionPool:
    """A psycopg pool of ``conninfo`` (not opened yet) that fails fast and comes back soon
    (``prepare`` and ``direct``: :func:`tune`)."""
    pool = ConnectionPool(conninfo, min_size=min_size, max_size=max_size, open=False)
    tune(pool, prepare=prepare, direct=direct)
    return pool
