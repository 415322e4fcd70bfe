"""Applying a log's events to a projection's view: a batch per transaction with its
tracking record (:class:`ViewApplier`), used by the projection runner
(:mod:`shared.eventsourcing.runner`) and by a rebuild (:mod:`shared.eventsourcing.rebuild`).

When a batch fails, the applier tells why:

- the database is away (:func:`shared.failures.database_away`, or it does not answer): the
  batch is rolled back and the error raised; the runner stops with it and the supervisor
  (:mod:`shared.runtime.supervision`) starts a new one, which resumes after the last
  committed tracking record; nothing is parked;
- else one of its events cannot be applied: the applier applies the batch's events one by
  one, each in a transaction of its own, and parks the one that fails
  (:mod:`shared.eventsourcing.parking`: recorded in the transaction that moves the tracking
  record past it), and the aggregate's later events behind it, so the view keeps following
  the log.

So every event is applied exactly once or parked exactly once.

Each transaction of a runner's applier first takes the view's advisory lock
(:func:`shared.eventsourcing.parking.lock_key`, transaction-level, without waiting) and
checks that the tracking record is where the applier left it. While a rebuild, a retry of
parked events or another runner holds the lock, the runner keeps its batch and tries again.
When the record is ahead (another replica's runner applied the batch, or a rebuild ended
further on), the applier raises :class:`ViewAdvanced` and the runner carries on from there
with the events after it; when it is behind (a rebuild started over), it raises
:class:`ViewMoved` and the supervisor starts a new runner from the record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, Tracking
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

from shared.eventsourcing import parking
from shared.eventsourcing._library import max_tracking_id_query
from shared.eventsourcing.projections import ViewProjection
from shared.eventsourcing.views import TrackedView
from shared.failures import database_away, describe

log = logging.getLogger(__name__)


class ViewLocked(Exception):
    """A rebuild or a retry of parked events holds the view's lock: try the batch later."""


class ViewMoved(Exception):
    """The view's tracking record is behind where this runner left it (rebuilt meanwhile):
    this runner's subscription no longer fits."""


class ViewAdvanced(Exception):
    """The view's tracking record is ahead of where this runner left it (another runner
    applied events): the runner goes on after it, skipping what is applied already. Not a
    failure: with several replicas it is how they share a view."""


class ViewApplier:
    """Applies notifications of one log to a projection's view: a batch per transaction
    with its tracking record, and, when a batch fails for one of its events, each event
    alone, parking the one that cannot be applied (and its aggregate's later ones behind it).

    Used by :class:`BatchingProjectionRunner` (``locking=True``: each transaction takes the
    view's advisory lock without waiting, :class:`ViewLocked` if it cannot) and by
    :func:`shared.eventsourcing.rebuild.rebuild_projection` (which holds the lock throughout). Each
    transaction checks that the tracking record is where this applier left it
    (:class:`ViewMoved` if not). Raises what means the database is away.
    """

    def __init__(
        self,
        projection: ViewProjection,
        application_name: str,
        decode: Callable[[Notification], Any],
        *,
        locking: bool = True,
    ) -> None:
        view = projection.view
        assert isinstance(view, TrackedView)
        self.view = view
        self.projection = projection
        self.name = projection.name
        self.app_name = application_name
        self.decode = decode
        self.locking = locking
        self.position = 0
        """The last notification id applied or parked (the view's tracking record)."""
        self.open_parked = 0
        """Parked events of this projection and log not applied yet (as of the last batch)."""
        self.applied = 0
        self.parked = 0
        self.last_progress: float | None = None
        self._held: dict[UUID | str, int] = {}
        self._lock = parking.lock_key(projection.name)
        # The library's own query of the position, and the count of parked events, in one
        # statement (one round trip per batch).
        self._position_sql = SQL(
            "SELECT ({}) AS position, (SELECT count(*) FROM parked_events WHERE projection = %s "
            "AND application_name = %s AND resolved_at IS NULL) AS parked"
        ).format(max_tracking_id_query(view))
        with view.datastore.transaction(commit=True) as cursor:
            parking.create_schema(cursor)

    def load(self) -> None:
        """Read the position and the aggregates with parked events (before the first batch)."""
        with self.view.datastore.transaction(commit=False) as cursor:
            self._read_position(cursor)
            self._held = parking.open_heads(cursor, self.name, self.app_name)

    def apply(self, batch: Sequence[Notification]) -> None:
        """The batch in one transaction; if one of its events cannot be applied, each event
        in a transaction of its own, parking the one that fails."""
        try:
            self._commit(batch)
        except (ViewLocked, ViewMoved, ViewAdvanced):
            raise
        except Exception as error:
            if self._database_away(error):
                raise
            log.info(
                "batch failed; applying its events one by one",
                extra={"projection": self.name, "error_class": type(error).__name__},
            )
            for notification in batch:
                self._apply_alone(notification)

    def _apply_alone(self, notification: Notification) -> None:
        try:
            self._commit([notification])
        except (ViewLocked, ViewMoved, ViewAdvanced):
            raise
        except Exception as error:
            if self._database_away(error):
                raise
            self._commit([notification], failing=error)
            error_class, message = describe(error)
            log.warning(
                "event parked",
                extra={
                    "projection": self.name,
                    "notification_id": notification.id,
                    "topic": notification.topic,
                    "error_class": error_class,
                    "error": message,
                },
            )

    def _commit(self, batch: Sequence[Notification], failing: BaseException | None = None) -> None:
        """One transaction: every event's rows (or, for an event of an aggregate with a
        parked event, or one that failed with ``failing``, its parked record), and the
        batch's last position as the tracking record (also when the last events changed
        nothing)."""
        heads: dict[UUID | str, int] = {}
        parked = 0
        with self.view.batched(prepare=self._enter) as cursor:
            for notification in batch:
                head = self._held.get(notification.originator_id)
                if head is not None:
                    parking.park(cursor, self.name, self.app_name, notification, held_behind=head)
                    parked += 1
                elif failing is not None:
                    parking.park(cursor, self.name, self.app_name, notification, error=failing)
                    heads[notification.originator_id] = notification.id
                    parked += 1
                else:
                    tracking = Tracking(self.app_name, notification.id)
                    self.projection.process_event(self.decode(notification), tracking)
            self.view.insert_tracking(Tracking(self.app_name, batch[-1].id))
        self.position = batch[-1].id
        self._held.update(heads)
        self.open_parked += parked
        self.parked += parked
        self.applied += len(batch) - parked
        self.last_progress = time.time()

    def _enter(self, cursor: Cursor[DictRow]) -> None:
        """First in each transaction: the view's lock (or :class:`ViewLocked`), and the
        tracking record where this applier left it (or :class:`ViewMoved`). One round trip:
        both statements pipelined, the position read by the second, after the lock."""
        position, parked = self.position, self.open_parked
        if self.locking:
            locking = cursor.connection.cursor()
            with cursor.connection.pipeline():
                locking.execute(
                    b"SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0)) AS locked",
                    (self._lock,),
                )
                self._execute_position(cursor)
            row = locking.fetchone()
            if row is None or not row["locked"]:
                raise ViewLocked(self.name)
        else:
            self._execute_position(cursor)
        self._fetch_position(cursor)
        if self.position > position:
            self._held = parking.open_heads(cursor, self.name, self.app_name)
            raise ViewAdvanced(self.name)
        if self.position < position:
            raise ViewMoved(f"{self.name}: at {self.position}, not {position}")
        if self.open_parked != parked:  # a retry applied some: which aggregates still wait
            self._held = parking.open_heads(cursor, self.name, self.app_name)

    def _read_position(self, cursor: Cursor[DictRow]) -> None:
        self._execute_position(cursor)
        self._fetch_position(cursor)

    def _execute_position(self, cursor: Cursor[DictRow]) -> None:
        cursor.execute(self._position_sql, (self.app_name, self.name, self.app_name))

    def _fetch_position(self, cursor: Cursor[DictRow]) -> None:
        row = cursor.fetchone()
        assert row is not None
        self.position = int(row["position"] or 0)
        self.open_parked = int(row["parked"])

    def _database_away(self, error: BaseException) -> bool:
        """The database is away (by the error, or it does not answer now): nothing is the
        event's fault."""
        if database_away(error):
            return True
        try:
            with self.view.datastore.transaction(commit=False) as cursor:
                cursor.execute(b"SELECT 1")
        except Exception:
            return True
        return False
