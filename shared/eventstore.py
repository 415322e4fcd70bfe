"""What every service's event-sourced application shares: persistence settings, the
transcodings of our value types, command metadata, and saving together with tracking."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar, cast
from uuid import UUID, uuid4

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    JSONTranscoder,
    ProcessRecorder,
    Recording,
    Tracking,
    Transcoding,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
    PostgresTrackingRecorder,
)
from eventsourcing.utils import Environment, EnvType
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from shared.database import tune
from shared.privacy import PersonalDataCipher
from shared.settings import StackSettings
from shared.telemetry import current_trace_carrier


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


def eventsourcing_env(settings: StackSettings, dbname: str, **extra: str) -> dict[str, str]:
    """The environment an eventsourcing application or view of ``dbname`` is built from."""
    return {
        "PERSISTENCE_MODULE": "shared.eventstore:OutreachPostgresFactory",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": settings.pg_host,
        "POSTGRES_PORT": str(settings.pg_port),
        "POSTGRES_USER": settings.pg_user,
        "POSTGRES_PASSWORD": settings.pg_password.get_secret_value(),
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "6",
        # Not POSTGRES_ENABLE_DB_FUNCTIONS: the library's insert function (9.5.6) takes no
        # table lock, so concurrent saves commit out of notification-id order and a reader
        # tailing the log (the relay, the projections) passes over an id committed later; and
        # it drops the tracking record of ``save_tracked``.
        "PROCESS_RECORDER_TOPIC": "shared.eventstore:OutreachRecorder",
        **extra,
    }


class OutreachPostgresFactory(PostgresFactory):
    """The library's PostgreSQL persistence, its connection pool bounded like every other
    pool of the service (``shared.database``): a caller waits at most a couple of seconds for a
    connection while the database is away, and the pool is back soon after the database."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        tune(self.datastore.pool)


F = TypeVar("F", bound=Callable[..., Any])


def _attempted_once(method: F) -> F:
    """The library's recorder method as written, without the retry the library (9.5.6) wraps
    it in: ten attempts 0.2 s apart on any operational error, each waiting for a connection,
    so that while the database is away one query would take ten times the pool's wait (20 s
    and more) before a request could be answered. Every caller of ours resumes by itself
    instead: a request is answered 503 and sent again; a relay, projection or consumer starts
    over from its recorded position. A method the library no longer wraps is taken as it is."""
    return cast(F, getattr(method, "__wrapped__", method))


class OutreachRecorder(PostgresProcessRecorder):
    """The library's process recorder, sending the new stored events in binary.

    The library's insert statement takes the events as one array of a composite type;
    psycopg dumps a composite in text by default, escaping every field (the event's bytes
    too) with regular expressions in Python — a third of the cost of a bulk ``save``. The same
    statement with the array in binary (``%b``) stores the same rows.
    """

    insert_events = _attempted_once(PostgresProcessRecorder.insert_events)
    select_events = _attempted_once(PostgresProcessRecorder.select_events)
    select_notifications = _attempted_once(PostgresProcessRecorder.select_notifications)
    max_notification_id = _attempted_once(PostgresProcessRecorder.max_notification_id)
    insert_tracking = _attempted_once(PostgresProcessRecorder.insert_tracking)
    max_tracking_id = _attempted_once(PostgresProcessRecorder.max_tracking_id)
    has_tracking_id = _attempted_once(PostgresProcessRecorder.has_tracking_id)

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        statement = self.insert_events_statement.as_string()
        if "unnest(%s::" in statement:  # else the library changed it: keep it as it is
            binary = statement.replace("unnest(%s::", "unnest(%b::")
            self.insert_events_statement = SQL(binary).format()


@dataclass(frozen=True)
class CommandContext:
    """Who asked for a change, and which request or event it follows from.

    Every domain event records this as its ``meta``: the audit trail's "who" and the trace
    context that lets the relay and consumers continue the request's trace.
    """

    actor: str
    role: str
    correlation_id: UUID = field(default_factory=uuid4)
    causation_id: UUID | None = None
    trace: dict[str, str] = field(default_factory=current_trace_carrier)

    def as_meta(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "role": self.role,
            "correlation_id": str(self.correlation_id),
            "causation_id": str(self.causation_id) if self.causation_id else None,
            "trace": dict(self.trace),
        }


class _Collected(ProcessingEvent[UUID]):
    """The library's ``ProcessingEvent``, collecting the events of an aggregate without the
    library's two ``isinstance`` checks against runtime-checkable protocols (on Python 3.11
    each walks the protocol's members: about a third of a bulk ``save``'s own time). An
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


class OutreachApplication(Application[UUID]):
    """Base of every service's application: a process recorder, so effects of consumed
    events can be stored atomically with the consumer's tracking record."""

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    recorder: ProcessRecorder

    def construct_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's ``save`` (9.5), collecting the events through :class:`_Collected`.
        ``tests/unit/test_eventstore_save.py`` fails when the library's ``save`` changes."""
        processing = _Collected()
        processing.collect_events(*objs, **kwargs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)  # the library's deprecated hook, as its save calls it
        return recordings

    def existing_ids(self, aggregate_ids: Sequence[UUID]) -> set[UUID]:
        """Which of ``aggregate_ids`` have any stored event: one query on PostgreSQL (for
        bulk commands that must check many aggregates before creating them)."""
        if isinstance(self.recorder, PostgresApplicationRecorder):
            statement = SQL("SELECT DISTINCT originator_id FROM {} WHERE originator_id = ANY(%s)")
            table = Identifier(self.recorder.events_table_name)
            with self.recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(statement.format(table), (list(aggregate_ids),))
                return {UUID(str(row["originator_id"])) for row in cursor.fetchall()}
        return {i for i in aggregate_ids if self.recorder.select_events(i, limit=1)}

    def save_tracked(self, tracking: Tracking, *aggregates: Any) -> bool:
        """Save the aggregates' new events and the tracking record in one transaction.

        Returns ``False`` (and changes nothing) when this tracking record exists already:
        the event was processed before.
        """
        if self.recorder.has_tracking_id(tracking.application_name, tracking.notification_id):
            return False
        processing = _Collected(tracking=tracking)
        processing.collect_events(*aggregates)
        try:
            recordings = self._record(processing)
        except IntegrityError:
            if self.recorder.has_tracking_id(tracking.application_name, tracking.notification_id):
                return False
            raise
        self._take_snapshots(processing)
        self._notify(recordings)
        return True


class SealingApplication(OutreachApplication):
    """An application that seals personal data: it holds the service's
    :class:`~shared.privacy.PersonalDataCipher` and the clock its rules read the day from.

    Built without a cipher (e.g. by a projection runner, which only reads the log), it
    refuses to seal or open anything.
    """

    def __init__(
        self,
        env: EnvType | None = None,
        *,
        cipher: PersonalDataCipher | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        super().__init__(env)
        self._cipher = cipher
        self._today = today

    @property
    def cipher(self) -> PersonalDataCipher:
        if self._cipher is None:
            raise RuntimeError(f"this {type(self).__name__} was built without a cipher")
        return self._cipher


class _TrackingRecorder(PostgresTrackingRecorder):
    """The library's tracking recorder, each query attempted once (see ``_attempted_once``)."""

    insert_tracking = _attempted_once(PostgresTrackingRecorder.insert_tracking)
    max_tracking_id = _attempted_once(PostgresTrackingRecorder.max_tracking_id)
    has_tracking_id = _attempted_once(PostgresTrackingRecorder.has_tracking_id)


class TrackedView(_TrackingRecorder):
    """A materialised view in the service's database: its rows and its tracking record are
    written in one transaction, so a crash never applies an event twice or skips one.

    Subclasses list their ``CREATE`` statements in ``schema``.
    """

    schema: tuple[str, ...] = ()
    rebuild_tables: tuple[str, ...] | None = None
    """The tables a rebuild empties (:mod:`shared.rebuild`); ``None``: every table of
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
            self._insert_tracking(cursor, tracking)

    def insert_tracking(self, tracking: Tracking) -> None:
        batch = self._current_batch()
        if batch is not None:
            batch.last[tracking.application_name] = tracking
            return
        super().insert_tracking(tracking)

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
                        self._insert_tracking(tracking_cursor, tracking)
            finally:
                self._local.batch = None

    def apply_once(self, tracking: Tracking, apply: Callable[[Cursor[DictRow]], None]) -> bool:
        """Run ``apply`` with tracking unless this tracking record exists (``False`` then)."""
        if self.has_tracking_id(tracking.application_name, tracking.notification_id):
            return False
        try:
            with self.tracked(tracking) as cursor:
                apply(cursor)
        except IntegrityError:
            if self.has_tracking_id(tracking.application_name, tracking.notification_id):
                return False
            raise
        return True

    def apply_batch(
        self, items: Sequence[tuple[Tracking, Callable[[Cursor[DictRow]], None]]]
    ) -> list[bool]:
        """Apply many consumed events in one transaction, each with its own tracking record.

        An event whose tracking record exists already (or that came earlier in ``items``) is
        skipped (``False`` in the result). The tracking records are read in one query and
        written in one statement, the effects' statements are pipelined. Raises
        :class:`IntegrityError` (and applies nothing) when one of the tracking records was
        written meanwhile by someone else: apply the events one by one then.
        """
        table = SQL("{}.{}").format(
            Identifier(self.datastore.schema), Identifier(self.tracking_table_name)
        )
        names = [tracking.application_name for tracking, _ in items]
        applied: list[bool] = []
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL(
                    "SELECT application_name, max(notification_id) AS notification_id FROM {} "
                    "WHERE application_name = ANY(%s) GROUP BY application_name"
                ).format(table),
                (names,),
            )
            recorded = {row["application_name"]: row["notification_id"] for row in cursor}
            fresh: list[Tracking] = []
            with cursor.connection.pipeline():
                for tracking, apply in items:
                    last = recorded.get(tracking.application_name)
                    if last is not None and last >= tracking.notification_id:
                        applied.append(False)
                        continue
                    recorded[tracking.application_name] = tracking.notification_id
                    apply(cursor)
                    fresh.append(tracking)
                    applied.append(True)
                if fresh:
                    cursor.execute(
                        SQL(
                            "INSERT INTO {} (application_name, notification_id) "
                            "SELECT * FROM unnest(%s::text[], %s::bigint[])"
                        ).format(table),
                        ([t.application_name for t in fresh], [t.notification_id for t in fresh]),
                    )
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
