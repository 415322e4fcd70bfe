"""Parked events: a stored event that a projection could not apply, set aside so that the
view keeps following the log.

A projection runner (:mod:`shared.eventsourcing.runner`) or a rebuild
(:mod:`shared.eventsourcing.rebuild`) that cannot apply one event records it in
``parked_events`` (in the service's database, in the transaction that moves the view's
tracking record past it) and goes on. What is recorded says what, why and where, never the
event's data: the projection, the log and notification id, the aggregate and its version,
the event's topic, the error's class and a safe message
(:func:`describe`).

Order, per aggregate: once an event of an aggregate is parked, the aggregate's later events
are parked behind it (``held_behind``) instead of being applied, so the aggregate's rows in
the view stay as they were before the parked event, never a mix of before and after. A retry
(:func:`retry_parked`) applies an aggregate's parked events in log order, each once, after
the view took everything else; if one fails again it stays parked (and those behind it
too). Other aggregates flow on; a view that combines several aggregates in one row (counts
per district) gets the retried aggregate's contribution late, never twice.

"The database is away" is not an event's fault (:func:`database_away`): the batch is
retried later and nothing is parked.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing import persistence
from eventsourcing.persistence import Notification, Tracking
from psycopg import Cursor
from psycopg.rows import DictRow

from shared.errors import ConflictError
from shared.eventsourcing.projections import ViewProjection
from shared.eventsourcing.views import TrackedView

log = logging.getLogger(__name__)

PARKED_EVENTS_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS parked_events (
        id bigserial PRIMARY KEY,
        projection text NOT NULL,
        application_name text NOT NULL,
        notification_id bigint NOT NULL,
        originator_id uuid NOT NULL,
        originator_version bigint NOT NULL,
        topic text NOT NULL,
        held_behind bigint,
        error_class text,
        error text,
        parked_at timestamptz NOT NULL DEFAULT now(),
        attempts int NOT NULL DEFAULT 1,
        last_attempt_at timestamptz NOT NULL DEFAULT now(),
        resolved_at timestamptz,
        resolution text,
        UNIQUE (projection, application_name, notification_id)
    )""",
    "CREATE INDEX IF NOT EXISTS parked_events_open ON parked_events "
    "(projection, application_name, originator_id) WHERE resolved_at IS NULL",
)
"""``held_behind``: the notification id of the aggregate's parked event this one waits
behind (``NULL``: this one failed itself). ``resolution``: ``applied`` (by a retry) or
``rebuilt`` (the view was rebuilt from the log since)."""


def lock_key(projection: str) -> str:
    """The advisory lock of a projection's view (``hashtextextended`` of this, per database):
    held by a runner for each batch, by a retry for each event, by a rebuild throughout."""
    return f"outreach-projection:{projection}"


# --- what went wrong --------------------------------------------------------------------

_AWAY_SQLSTATES = ("08", "53", "57P", "40001", "40P01", "55P03", "57014")
"""Connection exceptions, insufficient resources (disk, memory, connections), the server
shutting down or not yet accepting connections, and what passes by itself (serialisation
failures, deadlocks, lock and statement time-outs)."""

_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'|\([^()]*\)=\([^()]*\)")
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def database_away(error: BaseException) -> bool:
    """Whether ``error`` means the database is unreachable or busy (try again later) rather
    than that this event cannot be applied."""
    cause = _database_error(error)
    if isinstance(cause, psycopg.InterfaceError):
        return True
    if isinstance(cause, psycopg.OperationalError):
        state = cause.sqlstate
        return state is None or state.startswith(_AWAY_SQLSTATES)
    if isinstance(cause, psycopg.Error):
        return cause.sqlstate is not None and cause.sqlstate.startswith(_AWAY_SQLSTATES)
    # The library's own (e.g. no connection of its pool in time), without a psycopg cause.
    return isinstance(error, persistence.OperationalError | persistence.InterfaceError)


def _database_error(error: BaseException) -> BaseException:
    """psycopg's error behind the library's wrapper of it (or ``error`` itself)."""
    if not isinstance(error, psycopg.Error) and isinstance(error.__cause__, psycopg.Error):
        return error.__cause__
    return error


def describe(error: BaseException) -> tuple[str, str]:
    """The error's class and a message safe to store and show: no value of the event.

    A database error keeps its SQLSTATE and first line with quoted values and key values
    cut out; any other error only says where in the code it was raised (its message could
    quote the event's data).
    """
    cause = _database_error(error)
    name = f"{type(cause).__module__}.{type(cause).__qualname__}".removeprefix("builtins.")
    if isinstance(cause, psycopg.Error):
        first = (str(cause).strip().splitlines() or [""])[0]
        message = _QUOTED.sub("…", first)[:300]
        state = cause.sqlstate
        return name, f"{state}: {message}" if state else message
    return name, f"{type(cause).__name__} raised at {_where(cause)}"


def _own_code(path: Path) -> bool:
    """A file of this project (not of an installed library, wherever it is installed)."""
    return _PROJECT_ROOT in path.parents and "site-packages" not in path.parts


def _where(error: BaseException) -> str:
    """The innermost frame of the traceback in the project's own code (else the innermost)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "an unknown place"
    own = [f for f in frames if _own_code(Path(f.filename).resolve())]
    frame = (own or frames)[-1]
    path = Path(frame.filename).resolve()
    shown = path.relative_to(_PROJECT_ROOT) if _PROJECT_ROOT in path.parents else path.name
    return f"{shown}:{frame.lineno} in {frame.name}"


# --- recording ----------------------------------------------------------------------------


def create_schema(cursor: Cursor[Any]) -> None:
    for statement in PARKED_EVENTS_SCHEMA:
        cursor.execute(statement.encode())


def park(
    cursor: Cursor[DictRow],
    projection: str,
    application_name: str,
    notification: Notification,
    *,
    error: BaseException | None = None,
    held_behind: int | None = None,
) -> None:
    """Record ``notification`` as parked (again, if a rebuild met it once more)."""
    error_class, message = describe(error) if error is not None else (None, None)
    cursor.execute(
        b"INSERT INTO parked_events AS p (projection, application_name, notification_id, "
        b"originator_id, originator_version, topic, held_behind, error_class, error) "
        b"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        b"ON CONFLICT (projection, application_name, notification_id) DO UPDATE SET "
        b"held_behind = EXCLUDED.held_behind, error_class = EXCLUDED.error_class, "
        b"error = EXCLUDED.error, attempts = p.attempts + 1, last_attempt_at = now(), "
        b"resolved_at = NULL, resolution = NULL",
        (
            projection,
            application_name,
            notification.id,
            notification.originator_id,
            notification.originator_version,
            notification.topic,
            held_behind,
            error_class,
            message,
        ),
    )


def open_heads(
    cursor: Cursor[DictRow], projection: str, application_name: str
) -> dict[UUID | str, int]:
    """Per aggregate with parked events in this projection: the first one's notification id
    (keyed as the log's notifications name their aggregates)."""
    cursor.execute(
        b"SELECT originator_id, min(notification_id) AS head FROM parked_events "
        b"WHERE projection = %s AND application_name = %s AND resolved_at IS NULL "
        b"GROUP BY originator_id",
        (projection, application_name),
    )
    return {UUID(str(row["originator_id"])): int(row["head"]) for row in cursor.fetchall()}


def count_open(cursor: Cursor[DictRow], projection: str, application_name: str) -> int:
    cursor.execute(
        b"SELECT count(*) AS n FROM parked_events "
        b"WHERE projection = %s AND application_name = %s AND resolved_at IS NULL",
        (projection, application_name),
    )
    row = cursor.fetchone()
    return int(row["n"]) if row else 0


def resolve_all(cursor: Cursor[DictRow], projection: str, application_name: str) -> None:
    """A rebuild applies the whole log again: what was parked is met (and parked) anew."""
    cursor.execute(
        b"UPDATE parked_events SET resolved_at = now(), resolution = 'rebuilt' "
        b"WHERE projection = %s AND application_name = %s AND resolved_at IS NULL",
        (projection, application_name),
    )


# --- reading, for /ops --------------------------------------------------------------------

_COLUMNS = (
    "id, projection, application_name, notification_id, originator_id, originator_version, "
    "topic, held_behind, error_class, error, parked_at, attempts, last_attempt_at, "
    "resolved_at, resolution"
)


def listing(
    cursor: Cursor[DictRow],
    *,
    projection: str | None = None,
    include_resolved: bool = False,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Parked events, oldest first."""
    where = ["(%(projection)s::text IS NULL OR projection = %(projection)s)"]
    if not include_resolved:
        where.append("resolved_at IS NULL")
    cursor.execute(
        f"SELECT {_COLUMNS} FROM parked_events WHERE {' AND '.join(where)} "
        "ORDER BY projection, notification_id LIMIT %(limit)s".encode(),
        {"projection": projection, "limit": limit},
    )
    return [dict(row) for row in cursor.fetchall()]


def counts(cursor: Cursor[DictRow]) -> dict[str, int]:
    """Open parked events per projection."""
    cursor.execute(
        b"SELECT projection, count(*) AS n FROM parked_events WHERE resolved_at IS NULL "
        b"GROUP BY projection"
    )
    return {str(row["projection"]): int(row["n"]) for row in cursor.fetchall()}


# --- retrying -----------------------------------------------------------------------------


@dataclass
class RetryResult:
    applied: list[int]
    """Notification ids applied now (in order)."""
    still_parked: list[int]
    """Notification ids that are parked still (failed again, or behind one that did)."""
    errors: dict[int, str]
    """Per notification id that failed again: its error class and safe message."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "still_parked": self.still_parked,
            "errors": {str(k): v for k, v in self.errors.items()},
        }


def retry_parked(
    projection: ViewProjection,
    application_name: str,
    read: Callable[[int], Notification | None],
    decode: Callable[[Notification], Any],
    *,
    originator_ids: Sequence[UUID] | None = None,
    notification_ids: Sequence[int] | None = None,
    lock_timeout_seconds: float = 10.0,
) -> RetryResult:
    """Apply parked events of ``projection`` again (all of them, or those of some aggregates,
    or the aggregates of some parked events), per aggregate in log order, each exactly once.

    Each event is applied in a transaction of its own that holds the view's advisory lock
    (the runner waits meanwhile; a running rebuild makes this fail after
    ``lock_timeout_seconds``), checks that the event is still parked, applies it with the
    projection's own handler without moving the tracking record (the view is past it
    already) and marks it ``applied``. The first event of an aggregate that fails again
    stays parked with its new error, and the aggregate's later ones stay behind it.
    ``read`` returns the stored notification of an id, ``decode`` turns it into the domain
    event.
    """
    view = projection.view
    assert isinstance(view, TrackedView)
    name = projection.name
    with view.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            b"SELECT notification_id, originator_id FROM parked_events "
            b"WHERE projection = %(projection)s AND application_name = %(log)s "
            b"AND resolved_at IS NULL AND (%(all)s OR originator_id = ANY(%(originators)s) "
            b"OR originator_id IN (SELECT originator_id FROM parked_events WHERE "
            b"projection = %(projection)s AND notification_id = ANY(%(ids)s))) "
            b"ORDER BY originator_id, notification_id",
            {
                "projection": name,
                "log": application_name,
                "all": originator_ids is None and notification_ids is None,
                "originators": list(originator_ids or ()),
                "ids": list(notification_ids or ()),
            },
        )
        by_aggregate: dict[UUID, list[int]] = {}
        for row in cursor.fetchall():
            originator = UUID(str(row["originator_id"]))
            by_aggregate.setdefault(originator, []).append(int(row["notification_id"]))
    result = RetryResult([], [], {})
    for originator, ids in by_aggregate.items():
        for index, notification_id in enumerate(ids):
            failed = _retry_one(
                projection, application_name, notification_id, read, decode, lock_timeout_seconds
            )
            if failed is None:
                result.applied.append(notification_id)
                continue
            result.errors[notification_id] = failed
            result.still_parked.extend(ids[index:])
            _hold_behind(view, name, application_name, originator, notification_id)
            break
    log.info(
        "parked events retried",
        extra={
            "projection": name,
            "applied": len(result.applied),
            "still_parked": len(result.still_parked),
        },
    )
    return result


def _retry_one(
    projection: ViewProjection,
    application_name: str,
    notification_id: int,
    read: Callable[[int], Notification | None],
    decode: Callable[[Notification], Any],
    lock_timeout_seconds: float,
) -> str | None:
    """Apply one parked event; ``None`` if done (or no longer parked), else the error."""
    view = projection.view
    assert isinstance(view, TrackedView)
    name = projection.name

    def lock_and_check(cursor: Cursor[DictRow]) -> None:
        cursor.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_seconds * 1000)}ms'".encode())
        cursor.execute(b"SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key(name),))
        cursor.execute(
            b"SELECT 1 FROM parked_events WHERE projection = %s AND application_name = %s "
            b"AND notification_id = %s AND resolved_at IS NULL FOR UPDATE",
            (name, application_name, notification_id),
        )
        if cursor.fetchone() is None:
            raise _NoLongerParked

    notification = read(notification_id)
    if notification is None:
        return "the event is no longer in the log"
    try:
        with view.batched(prepare=lock_and_check, track=False) as cursor:
            tracking = Tracking(application_name, notification_id)
            projection.process_event(decode(notification), tracking)
            cursor.execute(
                b"UPDATE parked_events SET resolved_at = now(), resolution = 'applied', "
                b"attempts = attempts + 1, last_attempt_at = now() "
                b"WHERE projection = %s AND application_name = %s AND notification_id = %s",
                (name, application_name, notification_id),
            )
    except _NoLongerParked:
        return None
    except Exception as error:
        if isinstance(_database_error(error), psycopg.errors.LockNotAvailable):
            raise ViewBusyError(
                f"the view of {name} is held by a rebuild or another retry; try again later"
            ) from None
        if database_away(error):
            raise
        with view.datastore.transaction(commit=True) as cursor:
            park(cursor, name, application_name, notification, error=error)
        error_class, message = describe(error)
        return f"{error_class}: {message}"
    return None


def _hold_behind(
    view: TrackedView, projection: str, application_name: str, originator: UUID, head: int
) -> None:
    with view.datastore.transaction(commit=True) as cursor:
        cursor.execute(
            b"UPDATE parked_events SET held_behind = %s WHERE projection = %s "
            b"AND application_name = %s AND originator_id = %s AND notification_id > %s "
            b"AND resolved_at IS NULL",
            (head, projection, application_name, originator, head),
        )


class ViewBusyError(ConflictError):
    """A rebuild (or another retry) holds the view longer than a retry waits for it."""

    code = "view_busy"


class _NoLongerParked(Exception):
    """Retried meanwhile by someone else, or the view was rebuilt."""
