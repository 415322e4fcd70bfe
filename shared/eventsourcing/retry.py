"""Retrying parked events (:mod:`shared.eventsourcing.parking`): ``/ops`` and the
``python -m shared.eventsourcing.parked retry`` command apply an aggregate's parked events
again, in log order, each exactly once, once their cause is fixed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Notification, Tracking
from psycopg import Cursor
from psycopg.rows import DictRow

from shared.errors import ConflictError
from shared.eventsourcing.parking import lock_key, park
from shared.eventsourcing.projections import ViewProjection
from shared.eventsourcing.views import TrackedView
from shared.failures import database_away, database_error, describe

log = logging.getLogger(__name__)

Read = Callable[[int], Notification | None]
"""The stored notification of a notification id (``None`` when it is no longer there)."""
Decode = Callable[[Notification], Any]
"""The domain event of a stored notification."""


def notification_reader(app: Application[UUID]) -> Read:
    """What :func:`retry_parked` reads a parked event's stored notification with."""

    def read(notification_id: int) -> Notification | None:
        found = app.recorder.select_notifications(notification_id, 1)
        return found[0] if found and found[0].id == notification_id else None

    return read


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


class ViewBusyError(ConflictError):
    """A rebuild (or another retry) holds the view longer than a retry waits for it."""

    code = "view_busy"


def retry_parked(
    projection: ViewProjection,
    application_name: str,
    read: Read,
    decode: Decode,
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
    """
    retry = _Retry(projection, application_name, read, decode, lock_timeout_seconds)
    result = RetryResult([], [], {})
    for originator, ids in retry.parked(originator_ids, notification_ids).items():
        for index, notification_id in enumerate(ids):
            failed = retry.apply(notification_id)
            if failed is None:
                result.applied.append(notification_id)
                continue
            result.errors[notification_id] = failed
            result.still_parked.extend(ids[index:])
            retry.hold_behind(originator, notification_id)
            break
    log.info(
        "parked events retried",
        extra={
            "projection": projection.name,
            "applied": len(result.applied),
            "still_parked": len(result.still_parked),
        },
    )
    return result


class _NoLongerParked(Exception):
    """Retried meanwhile by someone else, or the view was rebuilt."""


class _Retry:
    """One retry of a projection's parked events of one log."""

    def __init__(
        self,
        projection: ViewProjection,
        application_name: str,
        read: Read,
        decode: Decode,
        lock_timeout_seconds: float,
    ) -> None:
        view = projection.view
        assert isinstance(view, TrackedView)
        self.projection, self.view, self.name = projection, view, projection.name
        self.log, self.read, self.decode = application_name, read, decode
        self.lock_timeout_ms = int(lock_timeout_seconds * 1000)

    def parked(
        self, originator_ids: Sequence[UUID] | None, notification_ids: Sequence[int] | None
    ) -> dict[UUID, list[int]]:
        """The open parked events asked for, per aggregate in log order."""
        with self.view.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                b"SELECT notification_id, originator_id FROM parked_events "
                b"WHERE projection = %(projection)s AND application_name = %(log)s "
                b"AND resolved_at IS NULL AND (%(all)s OR originator_id = ANY(%(originators)s) "
                b"OR originator_id IN (SELECT originator_id FROM parked_events WHERE "
                b"projection = %(projection)s AND notification_id = ANY(%(ids)s))) "
                b"ORDER BY originator_id, notification_id",
                {
                    "projection": self.name,
                    "log": self.log,
                    "all": originator_ids is None and notification_ids is None,
                    "originators": list(originator_ids or ()),
                    "ids": list(notification_ids or ()),
                },
            )
            by_aggregate: dict[UUID, list[int]] = {}
            for row in cursor.fetchall():
                originator = UUID(str(row["originator_id"]))
                by_aggregate.setdefault(originator, []).append(int(row["notification_id"]))
        return by_aggregate

    def apply(self, notification_id: int) -> str | None:
        """Apply one parked event; ``None`` if done (or no longer parked), else the error."""
        notification = self.read(notification_id)
        if notification is None:
            return "the event is no longer in the log"
        try:
            with self.view.batched(prepare=self._lock(notification_id), track=False) as cursor:
                tracking = Tracking(self.log, notification_id)
                self.projection.process_event(self.decode(notification), tracking)
                cursor.execute(
                    b"UPDATE parked_events SET resolved_at = now(), resolution = 'applied', "
                    b"attempts = attempts + 1, last_attempt_at = now() "
                    b"WHERE projection = %s AND application_name = %s AND notification_id = %s",
                    (self.name, self.log, notification_id),
                )
        except _NoLongerParked:
            return None
        except Exception as error:
            return self._failed(notification, error)
        return None

    def _lock(self, notification_id: int) -> Callable[[Cursor[DictRow]], None]:
        """What the transaction applying ``notification_id`` does first: wait (a while) for
        the view's lock, and check that the event is still parked."""

        def lock_and_check(cursor: Cursor[DictRow]) -> None:
            cursor.execute(f"SET LOCAL lock_timeout = '{self.lock_timeout_ms}ms'".encode())
            cursor.execute(
                b"SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key(self.name),)
            )
            cursor.execute(
                b"SELECT 1 FROM parked_events WHERE projection = %s AND application_name = %s "
                b"AND notification_id = %s AND resolved_at IS NULL FOR UPDATE",
                (self.name, self.log, notification_id),
            )
            if cursor.fetchone() is None:
                raise _NoLongerParked

        return lock_and_check

    def _failed(self, notification: Notification, error: Exception) -> str:
        if isinstance(database_error(error), psycopg.errors.LockNotAvailable):
            raise ViewBusyError(
                f"the view of {self.name} is held by a rebuild or another retry; try again later"
            ) from None
        if database_away(error):
            raise error
        with self.view.datastore.transaction(commit=True) as cursor:
            park(cursor, self.name, self.log, notification, error=error)
        error_class, message = describe(error)
        return f"{error_class}: {message}"

    def hold_behind(self, originator: UUID, head: int) -> None:
        with self.view.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                b"UPDATE parked_events SET held_behind = %s WHERE projection = %s "
                b"AND application_name = %s AND originator_id = %s AND notification_id > %s "
                b"AND resolved_at IS NULL",
                (head, self.name, self.log, originator, head),
            )
