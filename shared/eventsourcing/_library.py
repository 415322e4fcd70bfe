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
from eventsourcing.persistence import Recording, StoredEvent, Tracking
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresProcessRecorder,
    PostgresTrackingRecorder,
)
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Identifier

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


def notify_channel(recorder: PostgresApplicationRecorder) -> str:
    """The channel ``recorder``'s writes ``NOTIFY`` (set by the library's recorder; its
    subscription ``LISTEN``s to it)."""
    channel: str = recorder.channel_name
    return channel


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
