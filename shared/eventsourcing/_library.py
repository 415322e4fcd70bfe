"""Every use of the eventsourcing library beyond its public interface, in one place.

The rest of ``shared`` and the services use the library's public classes and methods only;
what they need of its inside (a private method, an attribute its recorders set, the shape of
its tracking table) they get from here. ``tests/unit/test_eventsourcing_library.py`` pins
:data:`LIBRARY_VERSION` and checks that every name and signature used here still exists, so
an upgrade of the library fails that test first: check each function below against the new
version, then move the pin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import (
    ApplicationRecorder,
    Recording,
    ShutDown,
    StoredEvent,
    Subscription,
    Tracking,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresProcessRecorder,
    PostgresSubscription,
    PostgresTrackingRecorder,
)
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Identifier

from shared.database import direct_connection

LIBRARY_VERSION = "9.5.6"
"""The version of the eventsourcing library every function here was checked against."""

F = TypeVar("F", bound=Callable[..., Any])


def attempted_once(method: F) -> F:
    """A recorder method without the retry the library wraps it in (ten attempts 0.2 s apart
    on any operational error, each waiting for a connection): while the database is away one
    query would take ten times the pool's wait before a request could be answered. Every
    caller of ours resumes by itself instead (a request is answered 503; a relay, projection
    or consumer starts over from its recorded position). A method the library no longer
    wraps is taken as it is."""
    return cast(F, getattr(method, "__wrapped__", method))


def insert_tracking(
    recorder: PostgresTrackingRecorder, cursor: Cursor[DictRow], tracking: Tracking
) -> None:
    """Record ``tracking`` in the transaction of ``cursor`` (the library's public
    ``insert_tracking`` opens a transaction of its own)."""
    recorder._insert_tracking(cursor, tracking)


def max_tracking_id_query(recorder: PostgresTrackingRecorder) -> Composable:
    """The library's query of a log's position in ``recorder``'s tracking table (one
    parameter: the application name; one column), to be run in a transaction of ours."""
    statement: Composable = recorder.max_tracking_id_statement
    return statement


def forget_tracking(
    recorder: PostgresTrackingRecorder, cursor: Cursor[DictRow], application_names: Sequence[str]
) -> None:
    """Remove the tracking records of ``application_names`` (a rebuild starts the view's logs
    from the beginning); the library has no method for it."""
    cursor.execute(
        SQL("DELETE FROM {}.{} WHERE application_name = ANY(%s)").format(
            Identifier(recorder.datastore.schema), Identifier(recorder.tracking_table_name)
        ),
        (list(application_names),),
    )


class HookedProcessRecorder(PostgresProcessRecorder):
    """The library's process recorder, calling :meth:`in_insert_transaction` with the
    keyword arguments of every ``insert_events`` (those of an application's ``save``), in the
    transaction that inserts the events, before them."""

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        self.in_insert_transaction(curs, **kwargs)
        super()._insert_events(curs, stored_events, **kwargs)

    def in_insert_transaction(self, cursor: Cursor[DictRow], **kwargs: Any) -> None:
        """Write what belongs with the events being inserted (nothing here)."""


class DirectSubscription(PostgresSubscription):
    """The library's subscription, its ``LISTEN`` on a connection of its own to PostgreSQL
    itself (:func:`~shared.database.direct_connection`) instead of one of the pool's: a pooler
    in transaction mode would hand the pool's connection to other clients between statements,
    and the notifications would go to them. The loop is the library's ``_listen``.

    A subscription to some topics moves past the events of other topics as it reads
    (:meth:`_pull`). The library's moves only to the last event of its topics it was given,
    so a projection of rare events (the data protection view: erasures, legal holds) read the
    whole log again after its last such event on every notification: a scan that grows with
    the log, on every write."""

    def _listen(self) -> None:
        try:
            with direct_connection(self._recorder.datastore.pool) as conn:
                conn.execute(SQL("LISTEN {0}").format(Identifier(self._recorder.channel_name)))
                while not self._has_been_stopped and not self._thread_error:
                    for _ in conn.notifies(timeout=0.1, stop_after=1):
                        self._has_been_notified.set()
        except BaseException as error:
            if self._thread_error is None:
                self._thread_error = error
            self.stop()

    _past_its_topics = False
    """Whether the last read found none of the subscription's events (then the next one asks
    where the log ends first, so that it can move there)."""

    def _pull(self) -> None:
        """The library's ``_pull``; a subscription to some topics whose last read found none
        of its events first asks where the log ends and reads up to there: every event up to
        it is committed (the library's writes take the table lock, so events commit in the
        order of their ids), so once fewer than a page of those are of its topics, it has
        read past all of them. (One more query, so only while its events are rare: one that
        keeps finding its events moves past the others with each one it finds.)"""
        if not self._topics:
            super()._pull()
            return
        while not self._has_been_stopped:
            self._has_been_notified.clear()
            last = self._last_notification_id or 0
            end = self._recorder.max_notification_id() if self._past_its_topics else None
            if end is not None and end <= last:
                return
            notifications = self._recorder.select_notifications(
                start=last,
                limit=self._select_limit,
                stop=end,
                topics=self._topics,
                inclusive_of_start=False,
            )
            self._past_its_topics = not notifications
            if notifications:
                try:
                    self._notifications_queue.put(notifications)
                except ShutDown:
                    return
                self._last_notification_id = notifications[-1].id
            if len(notifications) < self._select_limit:
                if end is not None:
                    self._last_notification_id = end
                return


class DirectListening(PostgresApplicationRecorder):
    """An application recorder whose subscriptions listen directly (:class:`DirectSubscription`)."""

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return DirectSubscription(recorder=self, gt=gt, topics=topics)


class Collected(ProcessingEvent[UUID]):
    """The library's ``ProcessingEvent``, collecting the events of an aggregate without the
    library's two ``isinstance`` checks against runtime-checkable protocols (on Python 3.11
    each walks the protocol's members: a large part of a bulk ``save``, bench/README.md). An
    aggregate class of the library is recognised by a plain class check, with the same
    outcome; anything else goes through the library's own checks."""

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            else:
                super().collect_events(obj)
        self.saved_kwargs.update(kwargs)


def record(app: Application[UUID], processing: Collected) -> list[Recording[UUID]]:
    """Store what ``processing`` collected (with its tracking record and saved keyword
    arguments, in one transaction), take the snapshots due and notify the application's
    followers: what the library's ``save`` does after collecting."""
    recordings = app._record(processing)
    app._take_snapshots(processing)
    app._notify(recordings)
    return recordings
