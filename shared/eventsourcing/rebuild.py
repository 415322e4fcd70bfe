"""Rebuilding a tracked view from scratch: empty its tables and tracking record, then apply
the event log again — in batches of one transaction each, not one transaction per event.

A rebuild takes over the view safely while its service runs: it holds the view's advisory
lock (:func:`shared.eventsourcing.parking.lock_key`) from the start to the end, so the
projection runner applies nothing meanwhile (each of its batches needs the lock; it waits,
and afterwards carries on after the tracking record the rebuild left). The tracking record
always says how far the rows go: a rebuild that stops half-way (killed, the database gone)
leaves a view that is behind, never one marked current, and the runner (or the next rebuild
with ``--resume``) goes on from there. An event that cannot be applied is parked, as by the
runner. While it runs the view shows what was rebuilt so far.

    python -m shared.eventsourcing.rebuild <service> <projection> [--batch-size N] [--resume]

:func:`notification_batches` reads a log without the notification log's section cap
(``select_notifications``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, Notification
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from shared.database import direct_connection
from shared.eventsourcing import parking
from shared.eventsourcing._library import forget_tracking
from shared.eventsourcing.applier import ViewApplier
from shared.eventsourcing.parking import lock_key
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.projections import EventLog, Projected, ViewProjection
from shared.eventsourcing.views import TrackedView, build_view
from shared.settings import ServiceSettings

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


def reset_view(
    view: TrackedView,
    tables: Sequence[str],
    logs: Sequence[str] = (),
    *,
    projection: str | None = None,
) -> None:
    """Empty ``tables`` and forget the view's tracking records of ``logs`` (application names)
    and the ``projection``'s parked events of them, in one transaction."""
    with view.datastore.transaction(commit=True) as cursor:
        for table in tables:
            cursor.execute(SQL("TRUNCATE {}").format(Identifier(table)))
        if logs:
            forget_tracking(view, cursor, logs)
        if projection is not None:
            parking.create_schema(cursor)
            for log in logs:
                parking.resolve_all(cursor, projection, log)


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


class RebuildRefusedError(Exception):
    """The view cannot be rebuilt now (another rebuild or a retry holds it)."""


@contextlib.contextmanager
def holding_view(view: TrackedView, projection: str, wait_seconds: float) -> Iterator[None]:
    """Hold the view's advisory lock (a session lock, on a connection of its own) while the
    block runs; :class:`RebuildRefusedError` if it is not free within ``wait_seconds`` (a
    runner holds it only for one batch at a time). The connection is to PostgreSQL itself,
    also when the view's pool connects through a pooler (which would hand a session lock on
    to other clients)."""
    with direct_connection(view.datastore.pool) as conn:
        conn.execute(f"SET lock_timeout = '{int(wait_seconds * 1000)}ms'".encode())
        try:
            conn.execute(
                b"SELECT pg_advisory_lock(hashtextextended(%s, 0))", (lock_key(projection),)
            )
        except psycopg.errors.LockNotAvailable:
            raise RebuildRefusedError(
                f"the view of {projection} is held by another rebuild or a retry of its parked "
                f"events (waited {wait_seconds:g} s); try again when it has finished"
            ) from None
        finally:
            conn.execute(b"RESET lock_timeout")
        try:
            yield
        finally:
            # A broken connection took the lock with it (its session ended).
            with contextlib.suppress(psycopg.Error):
                conn.execute(
                    b"SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (lock_key(projection),)
                )


def rebuild_projection(
    projection: ViewProjection,
    app: Application[UUID],
    *,
    tables: Sequence[str],
    batch_size: int = 1000,
    reset: bool = True,
    progress: Progress | None = None,
    wait_seconds: float = 30.0,
) -> int:
    """Rebuild ``projection``'s view from ``app``'s whole log (``reset=False``: go on from
    its tracking record); returns the events applied or parked.

    The projection's own ``process_event`` is used unchanged (:class:`ViewApplier`, as by
    the runner): inside a batch its writes share one transaction with the tracking record.
    With ``reset``, the tables, the tracking record and the projection's parked events
    (they are met again) go in one transaction.
    """
    view = projection.view
    assert isinstance(view, TrackedView)
    with holding_view(view, projection.name, wait_seconds):
        if reset:
            reset_view(view, tables, [app.name], projection=projection.name)
        applier = ViewApplier(projection, app.name, app.mapper.to_domain_event, locking=False)
        applier.load()
        done = 0
        for batch in notification_batches(
            app.recorder, start=applier.position, batch_size=batch_size, topics=projection.topics
        ):
            applier.apply(batch)
            done += len(batch)
            if progress is not None:
                progress(done)
        return done


@dataclass(frozen=True)
class Rebuildable:
    """A projection of a service that can be rebuilt, with the tables it empties."""

    projected: Projected
    tables: tuple[str, ...]


_CREATED = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", re.IGNORECASE)


def tables_of(view: type[TrackedView]) -> tuple[str, ...]:
    """The tables a rebuild of ``view`` empties: its ``rebuild_tables``, else every table its
    schema creates."""
    if view.rebuild_tables is not None:
        return view.rebuild_tables
    return tuple(dict.fromkeys(m.group(1) for s in view.schema for m in _CREATED.finditer(s)))


def rebuildable(log: EventLog) -> dict[str, Rebuildable]:
    """The service's projections by name (those whose view has tables of its own)."""
    return {p.name: Rebuildable(p, tables_of(p.view)) for p in log.projections}


SETTINGS = {
    "contacts": "ContactsSettings",
    "visits": "VisitsSettings",
    "coaching": "CoachingSettings",
    "notifications": "NotificationsSettings",
}


def service_log(service: str) -> tuple[EventLog, ServiceSettings]:
    """The event log and projections of ``service`` (``LOG`` of its ``main.py``), and its
    settings from the environment."""
    log = importlib.import_module(f"{service}.main").LOG
    assert isinstance(log, EventLog)
    settings = getattr(importlib.import_module(f"{service}.settings"), SETTINGS[service])()
    assert isinstance(settings, ServiceSettings)
    return log, settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log, settings = service_log(args.service)
    known = rebuildable(log)
    if args.projection is None or args.projection not in known:
        if args.projection is not None:
            print(f"no projection {args.projection!r} in {args.service}", file=sys.stderr)
        for name, what in known.items():
            print(f"{name}: {', '.join(what.tables) or '(shares its tables: not rebuildable)'}")
        return 0 if args.projection is None else 2
    chosen = known[args.projection]
    if not chosen.tables:
        print(
            f"{args.projection} writes into tables that other writers share; it cannot be "
            "rebuilt on its own",
            file=sys.stderr,
        )
        return 2
    return _rebuild(args, log, settings, chosen)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m shared.eventsourcing.rebuild",
        description="Rebuild a projection's view from its service's event log, while the "
        "service runs (its runner waits meanwhile and goes on from where the rebuild ended).",
    )
    parser.add_argument("service", choices=list(SETTINGS))
    parser.add_argument("projection", nargs="?", help="the projection's name (omit to list)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="go on from the view's tracking record instead of starting from scratch "
        "(after a rebuild that stopped half-way)",
    )
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the view")
    return parser


def _rebuild(
    args: argparse.Namespace, log: EventLog, settings: ServiceSettings, chosen: Rebuildable
) -> int:
    """Rebuild ``chosen``, printing its progress; the exit status."""
    env = eventsourcing_env(settings, settings.database)
    view = build_view(chosen.projected.view, env, chosen.projected.name)
    app = log.application(env)
    started = time.monotonic()
    try:
        total = app.recorder.max_notification_id() or 0

        def report(done: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-6)
            print(f"{args.projection}: {done:,} events ({rate:,.0f}/s; log head {total:,})")

        print(
            f"{args.projection}: rebuilding {', '.join(chosen.tables)} of {settings.database} "
            f"from its log ({total:,} notifications)"
            + (" from its tracking record" if args.resume else "")
        )
        done = rebuild_projection(
            chosen.projected.over(view),
            app,
            tables=chosen.tables,
            batch_size=args.batch_size,
            reset=not args.resume,
            progress=report,
            wait_seconds=args.wait,
        )
    except RebuildRefusedError as refused:
        print(f"refused: {refused}", file=sys.stderr)
        return 3
    finally:
        app.close()
    with view.datastore.transaction(commit=False) as cursor:
        parked = parking.count_open(cursor, args.projection, app.name)
    print(
        f"{args.projection}: done, {done:,} events in {time.monotonic() - started:.1f} s; "
        f"at {view.max_tracking_id(app.name) or 0:,}; {parked} parked"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
