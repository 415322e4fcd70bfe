"""Which messages each consumer group has applied: the consumers' de-duplication.

Every effect of a consumed message is stored in one transaction with a row of
``processed_messages`` (consumer group, message id, and the topic, partition and offset it was
delivered at); a message whose row exists is skipped. The message id is the integration
event's id, which stays the same when the relay publishes an event again (at another offset),
so the id, not the offset, is what makes a message the same.

A :class:`Delivery` is that row as the tracking record the effect is saved with: the
application's ``save_tracked`` and a tracked view's writes take it where they take a tracking
record, and store it in ``processed_messages`` rather than in the library's tracking tables,
which keep the positions in event logs. Where there is no such table (the in-memory event
store of the unit tests) it is recorded as the tracking record it also is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import Tracking
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

TABLE = "processed_messages"

_CREATE = """
CREATE TABLE IF NOT EXISTS processed_messages (
    consumer text NOT NULL,
    message_id text NOT NULL,
    topic text,
    partition int,
    "offset" bigint,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
)
"""

_INSERT = (
    'INSERT INTO processed_messages (consumer, message_id, topic, partition, "offset") '
    "VALUES (%s, %s, %s, %s, %s)"
)


@dataclass(frozen=True)
class Delivery(Tracking):
    """One message of a consumer group, as the tracking record its effect is saved with
    (see the module's docstring); made by :func:`delivery`."""

    consumer: str = ""
    message_id: str = ""
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None

    def row(self) -> tuple[str, str, str | None, int | None, int | None]:
        return (self.consumer, self.message_id, self.topic, self.partition, self.offset)


def delivery(
    consumer: str,
    message_id: UUID | str,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> Delivery:
    """The delivery of message ``message_id`` to ``consumer`` (its tracking identity, where
    one is needed: ``<consumer>/<message id>`` at 1)."""
    return Delivery(
        application_name=f"{consumer}/{message_id}",
        notification_id=1,
        consumer=consumer,
        message_id=str(message_id),
        topic=topic,
        partition=partition,
        offset=offset,
    )


def create_schema(cursor: Cursor[DictRow]) -> None:
    """Create ``processed_messages``; when it is new, take over the messages applied before
    it existed, so none of them is applied again (call under the deployment's schema lock)."""
    cursor.execute(b"SELECT to_regclass('processed_messages') IS NOT NULL AS present")
    row = cursor.fetchone()
    cursor.execute(_CREATE.encode())
    if row is None or not row["present"]:
        _take_over_tracked_messages(cursor)


def _take_over_tracked_messages(cursor: Cursor[DictRow]) -> None:
    """The messages a consumer applied while de-duplication lived in the event store's
    tracking tables (``<table>_tracking``, a record ``<consumer>/<message id>`` per message,
    the logs' positions having no ``/`` in their names), as rows of ``processed_messages``
    (where they were delivered is not known)."""
    cursor.execute(
        b"SELECT table_name FROM information_schema.columns WHERE table_schema = "
        b"current_schema() AND column_name = 'application_name' "
        b"AND table_name LIKE '%\\_tracking'"
    )
    for name in [row["table_name"] for row in cursor.fetchall()]:
        cursor.execute(
            SQL(
                "INSERT INTO processed_messages (consumer, message_id) "
                "SELECT split_part(application_name, '/', 1), "
                "substr(application_name, strpos(application_name, '/') + 1) "
                "FROM {} WHERE strpos(application_name, '/') > 0 ON CONFLICT DO NOTHING"
            ).format(Identifier(name))
        )


def record(cursor: Cursor[DictRow], message: Delivery) -> None:
    """Record ``message`` as applied, in the transaction of ``cursor`` (a unique violation if
    it was recorded meanwhile: the transaction, with the effect, is rolled back)."""
    cursor.execute(_INSERT.encode(), message.row())


def record_all(cursor: Cursor[DictRow], messages: Sequence[Delivery]) -> None:
    """Record ``messages`` as applied, in one statement."""
    columns = list(zip(*(message.row() for message in messages), strict=True))
    cursor.execute(
        b'INSERT INTO processed_messages (consumer, message_id, topic, partition, "offset") '
        b"SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[], %s::bigint[])",
        [list(column) for column in columns],
    )


def applied(cursor: Cursor[DictRow], messages: Iterable[Delivery]) -> set[tuple[str, str]]:
    """Which of ``messages`` were applied (as ``(consumer, message_id)``), in one query."""
    pairs = [(message.consumer, message.message_id) for message in messages]
    cursor.execute(
        b"SELECT consumer, message_id FROM processed_messages "
        b"WHERE (consumer, message_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
        ([c for c, _ in pairs], [m for _, m in pairs]),
    )
    return {(row["consumer"], row["message_id"]) for row in cursor.fetchall()}
