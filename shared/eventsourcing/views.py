"""Tracked views: a materialised view in the service's database whose rows and tracking
record are written in one transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eventsourcing.persistence import InfrastructureFactory, IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import Environment
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

from shared.eventsourcing._library import insert_tracking
from shared.eventsourcing.persistence import TrackingRecorder
from shared.messaging import processed
from shared.messaging.processed import Delivery


class TrackedView(TrackingRecorder):
    """A materialised view in the service's database: its rows and its tracking record are
    written in one transaction, so a crash never applies an event twice or skips one.

    Subclasses list their ``CREATE`` statements in ``schema``.
    """

    schema: tuple[str, ...] = ()
    rebuild_tables: tuple[str, ...] | None = None
    """The tables a rebuild empties (:mod:`shared.eventsourcing.rebuild`); ``None``: every table of
    ``schema``, ``()``: the view shares its tables with other writers and is not rebuilt
    on its own."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.sql_create_statements.extend(SQL(statement).format() for statement in self.schema)
        self._local = threading.local()  # the batch of a rebuild belongs to its thread only

    @contextmanager
    def tracked(self, tracking: Tracking) -> Iterator[Cursor[DictRow]]:
        """A transaction that also records ``tracking`` (inside :meth:`batched`: the batch's)."""
        batch = self._current_batch()
        if batch is not None:
            yield batch.cursor
            batch.last[tracking.application_name] = tracking
            return
        with self.datastore.transaction(commit=True) as cursor:
            yield cursor
            self._track(cursor, tracking)

    def execute(
        self, tracking: Tracking, sql: str, params: Mapping[str, object] | Sequence[object] = ()
    ) -> None:
        """One statement and ``tracking`` in one transaction (inside :meth:`batched`: the
        batch's): the write of a projection's handler for one event."""
        with self.tracked(tracking) as cursor:
            cursor.execute(sql.encode(), params)

    def insert_tracking(self, tracking: Tracking) -> None:
        batch = self._current_batch()
        if batch is not None:
            batch.last[tracking.application_name] = tracking
        elif isinstance(tracking, Delivery):
            with self.datastore.transaction(commit=True) as cursor:
                processed.record(cursor, tracking)
        else:
            super().insert_tracking(tracking)

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as cursor:
            processed.create_schema(cursor)

    def _track(self, cursor: Cursor[DictRow], tracking: Tracking) -> None:
        """Record ``tracking`` in the transaction of ``cursor``: a consumed message in
        ``processed_messages``, a position in an event log in the tracking table."""
        if isinstance(tracking, Delivery):
            processed.record(cursor, tracking)
        else:
            insert_tracking(self, cursor, tracking)

    def _seen(self, tracking: Tracking) -> bool:
        if isinstance(tracking, Delivery):
            with self.datastore.transaction(commit=False) as cursor:
                return bool(processed.applied(cursor, [tracking]))
        return bool(self.has_tracking_id(tracking.application_name, tracking.notification_id))

    def _current_batch(self) -> _Batch | None:
        batch: _Batch | None = getattr(self._local, "batch", None)
        return batch

    @contextmanager
    def batched(
        self,
        *,
        prepare: Callable[[Cursor[DictRow]], None] | None = None,
        track: bool = True,
    ) -> Iterator[Cursor[DictRow]]:
        """Apply many events in one transaction (a rebuild, a projection runner's batch):
        inside, :meth:`tracked` and :meth:`insert_tracking` share this transaction and its
        cursor, and only the last tracking record of each log is written, at the end (not
        at all with ``track=False``: a parked event applied again, behind the position).
        Only the calling thread's writes join the batch.

        ``prepare`` runs first in the transaction, before the pipeline (it may read results:
        take a lock, check the position); an exception from it rolls the transaction back.

        The statements are pipelined on the one cursor, so inside a batch an effect writes
        and does not read results: the results of earlier statements arrive at any time and
        become that cursor's current result."""
        with self.datastore.transaction(commit=True) as cursor:
            if prepare is not None:
                prepare(cursor)
            batch = _Batch(cursor)
            self._local.batch = batch
            try:
                with cursor.connection.pipeline():
                    yield cursor
                    # The library reads back the upserted position (``RETURNING``): on a
                    # cursor of its own, not one whose earlier statements' results may
                    # arrive meanwhile (that read a stale result: "the last operation
                    # didn't produce records").
                    tracking_cursor = cursor.connection.cursor()
                    for tracking in batch.last.values() if track else ():
                        self._track(tracking_cursor, tracking)
            finally:
                self._local.batch = None

    def apply_once(self, tracking: Tracking, apply: Callable[[Cursor[DictRow]], None]) -> bool:
        """Run ``apply`` with tracking unless this tracking record exists (``False`` then)."""
        if self._seen(tracking):
            return False
        try:
            with self.tracked(tracking) as cursor:
                apply(cursor)
        except IntegrityError:
            if self._seen(tracking):
                return False
            raise
        return True

    def apply_batch(
        self, items: Sequence[tuple[Delivery, Callable[[Cursor[DictRow]], None]]]
    ) -> list[bool]:
        """Apply many consumed messages in one transaction, each recorded as processed.

        A message recorded as processed already (or that came earlier in ``items``) is
        skipped (``False`` in the result). The messages are looked up in one query and
        recorded in one statement, the effects' statements are pipelined. Raises
        :class:`IntegrityError` (and applies nothing) when one of them was recorded
        meanwhile by someone else: apply the messages one by one then.
        """
        applied: list[bool] = []
        with self.datastore.transaction(commit=True) as cursor:
            seen = processed.applied(cursor, [message for message, _ in items])
            fresh: list[Delivery] = []
            with cursor.connection.pipeline():
                for message, apply in items:
                    key = (message.consumer, message.message_id)
                    applied.append(key not in seen)
                    if key in seen:
                        continue
                    seen.add(key)
                    apply(cursor)
                    fresh.append(message)
                if fresh:
                    processed.record_all(cursor, fresh)
        return applied

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[DictRow]:
        """The rows of one read-only statement. The library's connections are in autocommit
        mode and one statement reads one snapshot, so no ``BEGIN``/``ROLLBACK`` around it: one
        round trip instead of three."""
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(sql.encode(), params)
            return cursor.fetchall()


@dataclass
class _Batch:
    cursor: Cursor[DictRow]
    last: dict[str, Tracking] = field(default_factory=dict)


V = TypeVar("V", bound=TrackedView)


def build_view(view_class: type[V], env: dict[str, str], name: str) -> V:
    """Construct a tracked view (creating its tables); its tracking table is ``<name>_tracking``."""
    factory = InfrastructureFactory[V].construct(env=Environment(name, env))
    return factory.tracking_recorder(view_class)
