"""Where every service's events and views are stored: the library's PostgreSQL persistence,
its pool bounded like every other pool of the service, each query attempted once, and the
new events sent in binary."""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import (
    PostgresFactory,
    PostgresProcessRecorder,
    PostgresTrackingRecorder,
)
from eventsourcing.utils import Environment, EnvType
from psycopg import Cursor
from psycopg.rows import DictRow

from shared.database import tune
from shared.eventsourcing._library import HookedProcessRecorder, attempted_once
from shared.eventsourcing.binary_events import send_stored_events_in_binary
from shared.messaging import processed
from shared.settings import StackSettings

DIRECT_HOST, DIRECT_PORT = "OUTREACH_DIRECT_HOST", "OUTREACH_DIRECT_PORT"
"""The environment's address of PostgreSQL itself, when ``POSTGRES_HOST``/``_PORT`` are a
pooler's."""
PREPARE = "OUTREACH_PREPARE_STATEMENTS"
"""``n`` in the environment: the pool's connections prepare no statement (the pooler keeps
none, ``StackSettings.pg_pooler_prepared_statements``)."""


def eventsourcing_env(settings: StackSettings, dbname: str, **extra: str) -> dict[str, str]:
    """The environment an eventsourcing application or view of ``dbname`` is built from: its
    pool connects through the pooler if there is one (``LISTEN`` goes to PostgreSQL itself,
    :mod:`shared.eventsourcing.follower`)."""
    return {
        "PERSISTENCE_MODULE": "shared.eventsourcing.persistence:OutreachPostgresFactory",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": settings.pooled_address[0],
        "POSTGRES_PORT": str(settings.pooled_address[1]),
        DIRECT_HOST: settings.pg_host,
        DIRECT_PORT: str(settings.pg_port),
        PREPARE: "y" if settings.prepares_statements else "n",
        "POSTGRES_USER": settings.pg_user,
        "POSTGRES_PASSWORD": settings.pg_password.get_secret_value(),
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "6",
        # Not POSTGRES_ENABLE_DB_FUNCTIONS: the library's insert function (9.5.6) takes no
        # table lock, so concurrent saves commit out of notification-id order and a reader
        # tailing the log (the relay, the projections) passes over an id committed later; and
        # it drops the tracking record of ``save_tracked``.
        "PROCESS_RECORDER_TOPIC": "shared.eventsourcing.persistence:OutreachRecorder",
        **extra,
    }


class OutreachPostgresFactory(PostgresFactory):
    """The library's PostgreSQL persistence, its connection pool bounded like every other
    pool of the service (``shared.database``): a caller waits at most a couple of seconds for a
    connection while the database is away, and the pool is back soon after the database. Its
    connections send the new stored events in binary."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        send_stored_events_in_binary()
        super().__init__(env)
        host, port = self.env.get(DIRECT_HOST), self.env.get(DIRECT_PORT)
        tune(
            self.datastore.pool,
            prepare=self.env.get(PREPARE, "y") != "n",
            direct=(host, int(port)) if host and port else None,
        )


class OutreachRecorder(HookedProcessRecorder):
    """The library's process recorder: each query attempted once
    (:func:`~shared.eventsourcing._library.attempted_once`), the new stored events sent in
    binary (:mod:`shared.eventsourcing.binary_events`), and a consumed message's
    :class:`~shared.messaging.processed.Delivery` (the ``processed`` keyword of an
    application's ``save``) recorded in the transaction of the events it caused. Its log is
    followed with :class:`~shared.eventsourcing.follower.LogFollower` (the library's
    ``subscribe`` would ``LISTEN`` on a connection of the pool, which a pooler hands to
    others)."""

    insert_events = attempted_once(PostgresProcessRecorder.insert_events)
    select_events = attempted_once(PostgresProcessRecorder.select_events)
    select_notifications = attempted_once(PostgresProcessRecorder.select_notifications)
    max_notification_id = attempted_once(PostgresProcessRecorder.max_notification_id)
    insert_tracking = attempted_once(PostgresProcessRecorder.insert_tracking)
    max_tracking_id = attempted_once(PostgresProcessRecorder.max_tracking_id)
    has_tracking_id = attempted_once(PostgresProcessRecorder.has_tracking_id)

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as cursor:
            processed.create_schema(cursor)

    def in_insert_transaction(self, cursor: Cursor[DictRow], **kwargs: Any) -> None:
        message = kwargs.get("processed")
        if isinstance(message, processed.Delivery):
            processed.record(cursor, message)

    def has_processed(self, message: processed.Delivery) -> bool:
        """Whether ``message`` was applied (its row in ``processed_messages``)."""
        with self.datastore.transaction(commit=False) as cursor:
            return bool(processed.applied(cursor, [message]))


class TrackingRecorder(PostgresTrackingRecorder):
    """The library's tracking recorder, each query attempted once."""

    insert_tracking = attempted_once(PostgresTrackingRecorder.insert_tracking)
    max_tracking_id = attempted_once(PostgresTrackingRecorder.max_tracking_id)
    has_tracking_id = attempted_once(PostgresTrackingRecorder.has_tracking_id)
