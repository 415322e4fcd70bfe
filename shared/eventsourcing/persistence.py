"""Where every service's events and views are stored: the library's PostgreSQL persistence,
its pool bounded like every other pool of the service, each query attempted once, and the
new events sent in binary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from eventsourcing.postgres import (
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
    PostgresTrackingRecorder,
)
from eventsourcing.utils import Environment, EnvType
from psycopg.sql import SQL

from shared.database import tune
from shared.settings import StackSettings


def eventsourcing_env(settings: StackSettings, dbname: str, **extra: str) -> dict[str, str]:
    """The environment an eventsourcing application or view of ``dbname`` is built from."""
    return {
        "PERSISTENCE_MODULE": "shared.eventsourcing.persistence:OutreachPostgresFactory",
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
        "PROCESS_RECORDER_TOPIC": "shared.eventsourcing.persistence:OutreachRecorder",
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


class TrackingRecorder(PostgresTrackingRecorder):
    """The library's tracking recorder, each query attempted once (see ``_attempted_once``)."""

    insert_tracking = _attempted_once(PostgresTrackingRecorder.insert_tracking)
    max_tracking_id = _attempted_once(PostgresTrackingRecorder.max_tracking_id)
    has_tracking_id = _attempted_once(PostgresTrackingRecorder.has_tracking_id)
