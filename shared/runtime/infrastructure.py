"""What every service process holds before it opens its own application: connection pools,
the keyring and the cipher, the Kafka broker, the token verifier, the access log and the dead
letters. Built without I/O (:func:`build_infrastructure`); the lifespan opens it
(:meth:`Infrastructure.open`) and closes it."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import psycopg
from faststream.kafka import KafkaBroker
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from shared.database import connection_pool
from shared.eventsourcing import parking
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.views import TrackedView, build_view
from shared.http.access_log import AccessLog
from shared.http.auth import TokenVerifier
from shared.http.oidc import verifier_from_settings
from shared.keyring import Keyring
from shared.logging import configure_logging
from shared.messaging import processed
from shared.messaging.consumer import DeadLetters
from shared.messaging.kafka import build_broker
from shared.privacy import PersonalDataCipher
from shared.settings import ProcessRole, ServiceSettings
from shared.telemetry import configure_telemetry

V = TypeVar("V", bound=TrackedView)

API_POOL = {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "5"}
"""Connections of each datastore (the application, every view) of an ``api`` process: it
keeps one open and opens up to six under load (instead of four and ten), as several api
processes run beside the worker, each with a datastore per view."""


@contextlib.contextmanager
def schema_lock(dsn: str, what: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock while creating ``what``'s schema.

    Several processes of one deployment (N api processes, a worker beside them) start
    at the same time; PostgreSQL can fail concurrent ``CREATE … IF NOT EXISTS`` of the same
    table, type or index with a unique violation on its catalogue. Under this lock they create
    the schema one after the other (the later ones find it there). Released when the block
    ends (or the connection goes).
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"outreach-schema:{what}",)
        )
        yield


@dataclass(frozen=True)
class Infrastructure:
    """The shared parts of one service process (see :func:`build_infrastructure`)."""

    name: str
    """The service (``visits``): its topic, its broker's client id, its logs and traces."""
    settings: ServiceSettings
    env: dict[str, str]
    """The eventsourcing environment of the service's database (its application, its views)."""
    pool: ConnectionPool
    """The service's database: access log, dead letters, parked events, the event chain."""
    keyring_pool: ConnectionPool
    keyring: Keyring
    cipher: PersonalDataCipher
    broker: KafkaBroker
    verifier: TokenVerifier
    access_log: AccessLog
    dead_letters: DeadLetters
    _views: dict[tuple[type[TrackedView], str], TrackedView] = field(
        default_factory=dict, repr=False
    )

    @property
    def dsn(self) -> str:
        """The service's database on PostgreSQL itself (never through a pooler): for what
        holds a session, the leader locks and the schema lock."""
        return self.settings.database_url(self.settings.database)

    def view(self, kind: type[V], name: str) -> V:
        """The view ``kind`` under ``name`` (its tracking table is ``<name>_tracking``),
        opened once per process: the routes, the consumers and the projection runners share
        it. Creates its tables: call it while opening the service (under its schema lock)."""
        opened = self._views.get((kind, name))
        if opened is None:
            opened = self._views[(kind, name)] = build_view(kind, self.env, name)
        assert isinstance(opened, kind)
        return opened

    def open(self) -> None:
        """Open the pools, create the keyring's schema and the tables every service has
        (dead letters, parked events, processed messages, the access log), each under its
        schema lock."""
        self.keyring_pool.open(wait=True)
        self.pool.open(wait=True)
        with schema_lock(self.settings.database_url(self.settings.keyring_database), "keyring"):
            self.keyring.create_schema()
        with self.schema_lock():
            self.dead_letters.create_schema()
            with self.pool.connection() as conn:
                parking.create_schema(conn.cursor())
                processed.create_schema(conn.cursor(row_factory=dict_row))
            self.access_log.create_schema()

    @contextlib.contextmanager
    def schema_lock(self) -> Iterator[None]:
        """The lock under which the processes of this deployment create its tables."""
        with schema_lock(self.dsn, self.settings.database):
            yield

    def close(self) -> None:
        self.pool.close()
        self.keyring_pool.close()


def pooled(
    settings: ServiceSettings, dbname: str, *, min_size: int, max_size: int
) -> ConnectionPool:
    """A pool of ``dbname``: through the pooler if there is one (``StackSettings.pooled_url``)."""
    url = settings.pooled_url(dbname)
    through_pooler = url != settings.database_url(dbname)
    return connection_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        prepare=settings.prepares_statements or not through_pooler,
        direct=(settings.pg_host, settings.pg_port) if through_pooler else None,
    )


def build_infrastructure(name: str, settings: ServiceSettings) -> Infrastructure:
    """The infrastructure of a process of service ``name`` (logging and tracing configured;
    nothing opened yet). An ``api`` process keeps smaller pools (:data:`API_POOL`)."""
    configure_logging(name, settings.log_level)
    configure_telemetry(name, settings.otlp_endpoint)
    api = settings.process_role is ProcessRole.API
    pool = pooled(settings, settings.database, min_size=1, max_size=4)
    keyring_pool = pooled(settings, settings.keyring_database, min_size=1, max_size=8)
    keyring = Keyring(
        keyring_pool,
        base64.b64decode(settings.secret("keyring_kek")),
        cache_seconds=settings.key_cache_seconds,
    )
    broker = build_broker(settings, name)
    return Infrastructure(
        name=name,
        settings=settings,
        env=eventsourcing_env(settings, settings.database, **(API_POOL if api else {})),
        pool=pool,
        keyring_pool=keyring_pool,
        keyring=keyring,
        cipher=PersonalDataCipher(keyring, settings.secret("blind_index_key").encode()),
        broker=broker,
        verifier=verifier_from_settings(settings),
        access_log=AccessLog(pool, settings.service_name),
        dead_letters=DeadLetters(broker, pool),
    )
