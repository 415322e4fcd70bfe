"""A projection runner that applies events in batches: everything the event log's
subscription has delivered (up to ``batch_size``) in one transaction of the view.

The library's ``ProjectionRunner`` applies one event per transaction (``BEGIN``, the
statements, the tracking record, ``COMMIT``). This runner reads the log the same way (the
recorder's subscription, woken by ``NOTIFY``), decodes each event with the application's
mapper and calls the projection's own ``process_event`` unchanged, but inside the view's
:meth:`~shared.eventsourcing.views.TrackedView.batched` transaction: the rows of the whole batch and
its tracking record commit together, or nothing does.

When a batch fails, the runner tells why:

- the database is away (:func:`shared.eventsourcing.parking.database_away`, or it does not
  answer): the batch is rolled back, the runner stops with the error and the supervisor
  (:mod:`shared.runtime.supervision`) starts a new one, which resumes after the last
  committed tracking record; nothing is parked;
- else one of its events cannot be applied: the runner applies the batch's events one by
  one, each in a transaction of its own, and parks the one that fails
  (:mod:`shared.eventsourcing.parking`: recorded in the transaction that moves the tracking
  record past it), and the aggregate's later events behind it, so the view keeps following
  the log.

So every event is applied exactly once or parked exactly once.

Each batch transaction first takes the view's advisory lock
(:func:`shared.eventsourcing.parking.lock_key`, transaction-level, without waiting) and checks
that the tracking record is where this runner left it. While a rebuild or a retry of parked
events holds the lock, the runner keeps its batch and tries again; when the record moved (a
rebuild, another runner), it stops with :class:`ViewMoved` and the supervisor starts a new
one from the record.

Only the library's public interface is used: ``recorder.subscribe`` follows the log,
``mapper.to_domain_event`` decodes; the view is the process's (opened once).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification, Subscription, Tracking
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

from shared.eventsourcing import parking
from shared.eventsourcing._library import max_tracking_id_query
from shared.eventsourcing.projections import ViewProjection
from shared.eventsourcing.views import TrackedView

log = logging.getLogger(__name__)


class ViewLocked(Exception):
    """A rebuild or a retry of parked events holds the view's lock: try the batch later."""


class ViewMoved(Exception):
    """The view's tracking record is not where this runner left it (rebuilt meanwhile, or
    another runner applied events): this runner's subscription no longer fits."""


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
        except (ViewLocked, ViewMoved):
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
        except (ViewLocked, ViewMoved):
            raise
        except Exception as error:
            if self._database_away(error):
                raise
            self._commit([notification], failing=error)
            error_class, message = parking.describe(error)
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
        if self.position != position:
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
        if parking.database_away(error):
            return True
        try:
            with self.view.datastore.transaction(commit=False) as cursor:
                cursor.execute(b"SELECT 1")
        except Exception:
            return True
        return False


class BatchingProjectionRunner:
    """Runs ``projection`` (writing into its view) over ``application_class``'s event log, a
    batch of events per transaction (:class:`ViewApplier`).

    Used like the library's ``ProjectionRunner`` (it builds its own application from ``env``
    to follow the log): enter it to start, :meth:`stop` or exit it to stop;
    :attr:`is_interrupted` is set when it stopped, and :meth:`run_forever` re-raises what
    stopped it. The view is the caller's (the process opens each view once); a runner that
    stopped is replaced by a new one over the same projection.
    """

    def __init__(
        self,
        *,
        application_class: type[Application[UUID]],
        projection: ViewProjection,
        env: dict[str, str] | None = None,
        batch_size: int = 500,
    ) -> None:
        self.projection = projection
        self.view = projection.view
        self.app = application_class(env)
        self.app_name = self.app.name
        self.batch_size = batch_size
        self.applier = ViewApplier(self.projection, self.app_name, self.app.mapper.to_domain_event)
        self.locked_out_since: float | None = None
        """Since when (epoch seconds) a rebuild or retry holds the view, if it does."""
        self._interrupted = threading.Event()
        self._stopped_by_caller = False
        self._error: BaseException | None = None
        self._handover: queue.Queue[Notification] = queue.Queue(maxsize=batch_size * 4)
        self._subscription: Subscription[Any] | None = None
        self._threads: list[threading.Thread] = []

    @property
    def applied(self) -> int:
        """Events applied (committed) since this runner started."""
        return self.applier.applied

    @property
    def is_interrupted(self) -> threading.Event:
        """Set once the runner stopped: asked to, or on an error (see :meth:`run_forever`)."""
        return self._interrupted

    def status(self) -> dict[str, Any]:
        """What ``/ops`` and readiness show of this runner (from memory, no query)."""

        def at(seconds: float | None) -> str | None:
            return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()

        return {
            "running": not self._interrupted.is_set(),
            "position": self.applier.position,
            "parked": self.applier.open_parked,
            "applied_since_start": self.applier.applied,
            "parked_since_start": self.applier.parked,
            "last_progress_at": at(self.applier.last_progress),
            "locked_out_since": at(self.locked_out_since),
        }

    def __enter__(self) -> BatchingProjectionRunner:
        self.applier.load()
        self._subscription = self.app.recorder.subscribe(
            gt=self.applier.position or None, topics=self.projection.topics
        )
        name = self.projection.name
        self._threads = [
            threading.Thread(target=self._read, name=f"projection-reader-{name}", daemon=True),
            threading.Thread(target=self._apply, name=f"projection-{name}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop, wait for the threads and close the application; re-raises the error that
        stopped the runner, if any (as the library's runner does)."""
        self.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self.app.close()
        self.run_forever(timeout=0)

    def stop(self) -> None:
        self._stopped_by_caller = True
        self._interrupted.set()
        if self._subscription is not None:
            self._subscription.stop()

    def run_forever(self, timeout: float | None = None) -> None:
        """Block until the runner stopped (or ``timeout``); re-raise what stopped it (once)."""
        if self._interrupted.wait(timeout=timeout) and self._error is not None:
            error, self._error = self._error, None
            raise error

    def wait(self, notification_id: int | None, timeout: float = 1.0) -> None:
        """Block until the view has applied the log up to ``notification_id``."""
        self.view.wait(
            application_name=self.app_name,
            notification_id=notification_id,
            timeout=timeout,
            interrupt=self._interrupted,
        )

    def _fail(self, error: BaseException) -> None:
        if self._error is None and not self._stopped_by_caller:
            self._error = error
            extra = {"projection": self.projection.name}
            if isinstance(error, ViewMoved):
                log.info("projection restarts from its tracking record", extra=extra)
            else:
                log.error("projection stopped", exc_info=error, extra=extra)
        self._interrupted.set()
        if self._subscription is not None:
            self._subscription.stop()

    def _read(self) -> None:
        """Hand the subscription's notifications to the applying thread (the queue is
        bounded: reading waits while applying is behind)."""
        subscription = self._subscription
        assert subscription is not None
        try:
            with subscription:
                for notification in subscription:
                    while not self._interrupted.is_set():
                        with contextlib.suppress(queue.Full):
                            self._handover.put(notification, timeout=0.5)
                            break
                    if self._interrupted.is_set():
                        return
        except BaseException as error:
            self._fail(error)

    def _apply(self) -> None:
        pending: list[Notification] = []
        try:
            while not self._interrupted.is_set():
                # What a locked-out batch left, without what was committed meanwhile.
                position = self.applier.position
                batch = [n for n in pending if n.id > position] or self._next_batch()
                pending = []
                if not batch:
                    continue
                try:
                    self.applier.apply(batch)
                    self.locked_out_since = None
                except ViewLocked:
                    pending = batch
                    self.locked_out_since = self.locked_out_since or time.time()
                    self._interrupted.wait(0.2)
        except BaseException as error:
            self._fail(error)

    def _next_batch(self) -> list[Notification]:
        """What was delivered, up to ``batch_size`` (at most half a second for the first)."""
        try:
            batch = [self._handover.get(timeout=0.5)]
        except queue.Empty:
            return []
        with contextlib.suppress(queue.Empty):
            while len(batch) < self.batch_size:
                batch.append(self._handover.get_nowait())
        return batch
