"""Rebuilding a tracked view from scratch: delete its rows and tracking, then apply the
event log again — in batches of one transaction each, not one transaction per event.

Run it while the view's own runner (or consumer) is stopped, e.g. after a change of a
projection's logic or to repair a view. :func:`notification_batches` reads a log without
the notification log's section cap (``select_notifications``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, Notification, Tracking
from eventsourcing.projection import Projection
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from shared.eventstore import TrackedView

T = TypeVar("T")
Progress = Callable[[int], None]
"""Called after every batch with the number of items applied so far."""


def notification_batches(
    recorder: ApplicationRecorder,
    *,
    start: int = 0,
    batch_size: int = 1000,
    topics: Sequence[str] = (),
) -> Iterator[Sequence[Notification]]:
    """The whole log after notification ``start``, ``batch_size`` notifications at a time.

    The next batch is read (in a thread of its own) while the caller applies this one, so
    the database's read overlaps with decoding and applying instead of adding to it.
    """

    def read(after: int) -> Sequence[Notification]:
        return recorder.select_notifications(
            after, batch_size, topics=topics, inclusive_of_start=False
        )

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as reader:
        ahead = reader.submit(read, start)
        while True:
            batch = ahead.result()
            if not batch:
                return
            ahead = reader.submit(read, batch[-1].id)
            yield batch


def reset_view(view: TrackedView, tables: Sequence[str], logs: Sequence[str] = ()) -> None:
    """Empty ``tables`` and forget the view's tracking records of ``logs`` (application names),
    in one transaction."""
    with view.datastore.transaction(commit=True) as cursor:
        for table in tables:
            cursor.execute(SQL("TRUNCATE {}").format(Identifier(table)))
        if logs:
            cursor.execute(
                SQL("DELETE FROM {} WHERE application_name = ANY(%s)").format(
                    Identifier(view.tracking_table_name)
                ),
                (list(logs),),
            )


def replay(
    view: TrackedView,
    batches: Iterable[Sequence[T]],
    apply: Callable[[Cursor[DictRow], T], None],
    progress: Progress | None = None,
) -> int:
    """Apply every item of ``batches`` with ``apply``, one transaction per batch."""
    done = 0
    for batch in batches:
        with view.batched() as cursor:
            for item in batch:
                apply(cursor, item)
        done += len(batch)
        if progress is not None:
            progress(done)
    return done


def rebuild_projection(
    projection: Projection[Any],
    app: Application[UUID],
    *,
    tables: Sequence[str],
    batch_size: int = 1000,
    reset: bool = True,
    progress: Progress | None = None,
) -> int:
    """Rebuild ``projection``'s view from ``app``'s whole log; returns the events applied.

    The projection's own ``process_event`` is used unchanged: inside the view's batch its
    writes share one transaction, and the tracking record ends at the last event applied.
    """
    view = projection.view
    assert isinstance(view, TrackedView)
    if reset:
        reset_view(view, tables, [app.name])

    def apply(_: Cursor[DictRow], notification: Notification) -> None:
        domain_event = app.mapper.to_domain_event(notification)
        projection.process_event(domain_event, Tracking(app.name, notification.id))

    batches = notification_batches(app.recorder, batch_size=batch_size, topics=projection.topics)
    return replay(view, batches, apply, progress)
