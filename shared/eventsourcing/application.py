"""The base of every service's event-sourced application: the transcodings of our value
types, a process recorder (effects saved atomically with a consumer's tracking record), and
the sealing of personal data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    ProcessRecorder,
    Recording,
    Tracking,
    Transcoding,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import EnvType
from psycopg.sql import SQL, Identifier

from shared.errors import ConflictError, NotFoundError
from shared.eventsourcing._library import Collected, record
from shared.eventsourcing.persistence import OutreachRecorder
from shared.messaging.processed import Delivery
from shared.privacy import PersonalDataCipher

A = TypeVar("A", bound=BaseAggregate[UUID])


class ConcurrentChangeError(ConflictError):
    code = "concurrent_change"


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class OutreachApplication(Application[UUID]):
    """Base of every service's application: a process recorder, so effects of consumed
    events can be stored atomically with the consumer's tracking record; and the three steps
    of every command: :meth:`get` (or :meth:`find`) the aggregates, call them,
    :meth:`save_or_conflict`."""

    concurrent_change = "the resource changed meanwhile; try again"
    """What :meth:`save_or_conflict` answers when another command saved first."""

    def get(self, kind: type[A], aggregate_id: UUID, missing: NotFoundError) -> A:
        """The aggregate ``aggregate_id`` of ``kind``; ``missing`` is raised if there is none."""
        found = self.find(kind, aggregate_id)
        if found is None:
            raise missing
        return found

    def find(self, kind: type[A], aggregate_id: UUID, version: int | None = None) -> A | None:
        """The aggregate ``aggregate_id`` of ``kind`` (as it was at ``version``, when given),
        or ``None`` (none, or of another kind)."""
        try:
            found: object = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, kind) else None

    def save_or_conflict(self, *aggregates: BaseAggregate[UUID] | None) -> None:
        """Save the aggregates' new events together (``None``: nothing to save); when another
        command saved a version first, nothing is saved and the caller is told to try again
        (409 ``concurrent_change``)."""
        try:
            self.save(*(a for a in aggregates if a is not None))
        except IntegrityError:
            raise ConcurrentChangeError(self.concurrent_change) from None

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    recorder: ProcessRecorder

    def construct_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's ``save``, collecting the events through
        :class:`~shared.eventsourcing._library.Collected` (cheaper).
        ``tests/unit/test_eventstore_save.py`` fails when the library's ``save`` changes."""
        processing = Collected()
        processing.collect_events(*objs, **kwargs)
        recordings = record(self, processing)
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
        the event was processed before. A consumed message's
        :class:`~shared.messaging.processed.Delivery` is recorded in ``processed_messages``
        (where the event store has that table), any other tracking record in the library's
        tracking table.
        """
        if self._processed(tracking):
            return False
        message = self._message(tracking)
        if message is None:
            processing = Collected(tracking=tracking)
            processing.collect_events(*aggregates)
        else:
            processing = Collected()
            processing.collect_events(*aggregates, processed=message)
        try:
            record(self, processing)
        except IntegrityError:
            if self._processed(tracking):
                return False
            raise
        return True

    def _message(self, tracking: Tracking) -> Delivery | None:
        """``tracking`` if it is a message to record in ``processed_messages`` (which only
        the PostgreSQL event store has)."""
        if isinstance(tracking, Delivery) and isinstance(self.recorder, OutreachRecorder):
            return tracking
        return None

    def _processed(self, tracking: Tracking) -> bool:
        message = self._message(tracking)
        if message is not None:
            assert isinstance(self.recorder, OutreachRecorder)
            return self.recorder.has_processed(message)
        return self.recorder.has_tracking_id(tracking.application_name, tracking.notification_id)


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
