"""Parked events: a stored event that a projection could not apply, set aside so that the
view keeps following the log.

A projection runner (:mod:`shared.eventsourcing.runner`) or a rebuild
(:mod:`shared.eventsourcing.rebuild`) that cannot apply one event records it in
``parked_events`` (in the service's database, in the transaction that moves the view's
tracking record past it) and goes on. What is recorded says what, why and where, never the
event's data: the projection, the log and notification id, the aggregate and its version,
the event's topic, the error's class and a safe message
(:func:`shared.failures.describe`).

Order, per aggregate: once an event of an aggregate is parked, the aggregate's later events
are parked behind it (``held_behind``) instead of being applied, so the aggregate's rows in
the view stay as they were before the parked event, never a mix of before and after. A retry
(:mod:`shared.eventsourcing.retry`) applies an aggregate's parked events in log order, each
once, after the view took everything else; if one fails again it stays parked (and those
behind it too). Other aggregates flow on; a view that combines several aggregates in one row
(counts per district) gets the retried aggregate's contribution late, never twice.

"The database is away" is not an event's fault (:func:`shared.failures.database_away`): the
batch is retried later and nothing is parked.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from psycopg import Cursor
from psycopg.rows import DictRow

from shared.failures import describe

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
