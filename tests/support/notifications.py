"""The notifications service assembled in the test process, against the real PostgreSQL,
Kafka and a real SMTP server (aiosmtpd on a free port).

Each harness has a database of its own (the outbox sends whatever is due in its database,
so tests must not share one), its own topics and consumer groups.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from eventsourcing.projection import ProjectionRunner
from fastapi import FastAPI
from notifications.api import build_router
from notifications.application import Notifications
from notifications.channels import SmtpMailer, sms_gateway
from notifications.consumers import build_consumers
from notifications.domain import RetryPolicy
from notifications.outbox import Composer, Outbox, ReminderCheck
from notifications.projections import DirectoryView, NotificationsProjection, NotificationsView
from notifications.rendering import Templates
from notifications.settings import NotificationsSettings
from psycopg import sql
from psycopg_pool import ConnectionPool

from shared.contracts import Envelope, Payload
from shared.erasure import ErasureLedgerView
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.views import build_view
from shared.http.access_log import AccessLog
from shared.http.app import create_app
from shared.http.auth import TokenCodec, principal_dependency
from shared.messaging.consumer import DeadLetters, register
from shared.messaging.kafka import build_broker, ensure_topics
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.helpers import eventually
from tests.support.processes import free_port


class MailSink:
    """A real SMTP server that keeps what it receives (thread-safe)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(  # aiosmtpd calls this hook by its name
        self, server: SMTP, session: Session, envelope: SmtpEnvelope
    ) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        with self._lock:
            self.messages.append(message_from_bytes(content, policy=policy.default))
        return "250 Message accepted for delivery"

    def start(self) -> MailSink:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self, message_id: str | None = None) -> list[Message]:
        with self._lock:
            found = list(self.messages)
        return [m for m in found if message_id is None or m["Message-ID"] == message_id]


STAFF = {
    "ow-yilmaz": ("Ayşe Yılmaz", "frau"),
    "ow-becker": ("Jonas Becker", "herr"),
    "pc-weber": ("Jana Weber", "frau"),
}
"""The staff named by the tests' letters: user id -> (display name, form of address)."""


def letterhead(district: str) -> dict[str, Any]:
    """A test district's letterhead (its Jobcenter named after the district)."""
    return {
        "jobcenter": f"Jobcenter Testkreis {district}",
        "team": "Team Aufsuchende Beratung",
        "address": ["Probeweg 1", "34117 Kassel"],
        "phone": "0561 7070-0",
        "email": f"aufsuchend@{district}.example",
        "hours": "Mo-Fr 8-16 Uhr",
        "data_protection_officer": f"datenschutz@{district}.example",
    }


class Clock:
    """An injectable clock: real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@dataclass
class NotificationsHarness:
    settings: NotificationsSettings
    app: Notifications
    view: NotificationsView
    directory: DirectoryView
    cipher: PersonalDataCipher
    composer: Composer
    mailer: SmtpMailer
    outbox: Outbox
    clock: Clock
    topics: dict[str, str]
    prefix: str
    database: str
    http: FastAPI
    access_log: AccessLog
    ledger: ErasureLedgerView
    runners: list[ProjectionRunner[Any, Any]] = field(default_factory=list)

    def new_outbox(self, app: Notifications | None = None) -> Outbox:
        """Another outbox, as after a restart of the service."""
        return Outbox(
            app=app or self.app,
            view=self.view,
            composer=self.composer,
            mailer=self.mailer,
            sms=sms_gateway(None),
            lock_dsn=self.settings.database_url(self.database),
            forgotten=self.ledger.is_forgotten,
        )

    def configure(self, district: str) -> None:
        """The district's letterhead and the staff the tests' letters name (as a team lead
        enters them over ``PUT /letterheads/...`` and ``PUT /staff/...``)."""
        self.directory.put_letterhead(district, letterhead(district), by="tl-test")
        for user, (name, form) in STAFF.items():
            self.directory.put_staff(
                user, display_name=name, form_of_address=form, district=district, by="tl-test"
            )

    def reminders(self, today: date, lead_days: int = 14) -> ReminderCheck:
        return ReminderCheck(self.app, self.directory, lead_days=lead_days, today=lambda: today)

    def rows_for_id(self, event: Envelope[Payload]) -> uuid.UUID:
        """The (first) notification queued for ``event``, once the view shows it."""
        rows = eventually(
            lambda: self.rows_for(event.event_id, event.district),
            timeout=15,
            what="the notification in the view",
        )
        notification_id: uuid.UUID = rows[0]["notification_id"]
        return notification_id

    def rows_for(self, source_event_id: uuid.UUID, district: str) -> list[Any]:
        return self.view.listing(
            district, status=None, source_event_id=str(source_event_id), limit=50, offset=0
        )


@contextlib.contextmanager
def notifications_harness(
    stack: ServiceSettings,
    cipher: PersonalDataCipher,
    *,
    smtp_port: int,
    policy: RetryPolicy | None = None,
) -> Iterator[NotificationsHarness]:
    database = f"notifications_it_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    settings = NotificationsSettings(
        service_name=database, smtp_port=smtp_port, smtp_timeout_seconds=3
    )
    env = eventsourcing_env(stack, database)
    clock = Clock()
    app = Notifications(env, policy=policy or RetryPolicy(), clock=clock)
    runner: ProjectionRunner[Any, Any] = ProjectionRunner(
        application_class=Notifications,
        projection_class=NotificationsProjection,
        view_class=NotificationsView,
        env=env,
    ).__enter__()
    pool = ConnectionPool(stack.database_url(database), min_size=1, max_size=2)
    try:
        access_log = AccessLog(pool, database)
        access_log.create_schema()
        view: NotificationsView = runner.projection.view
        directory = build_view(DirectoryView, env, "directory")
        ledger = build_view(ErasureLedgerView, env, "erasure_ledger")
        templates = Templates(settings.templates_dir)
        composer = Composer(settings, templates, cipher, directory)
        mailer = SmtpMailer("127.0.0.1", smtp_port, settings.smtp_sender, timeout=3)
        outbox = Outbox(
            app=app,
            view=view,
            composer=composer,
            mailer=mailer,
            sms=sms_gateway(None),
            lock_dsn=settings.database_url(database),
            forgotten=ledger.is_forgotten,
        )
        tag = uuid.uuid4().hex[:8]
        topics = {p: f"test.{p}.{tag}" for p in ("contacts", "visits", "coaching")}
        ensure_topics(stack, [t for topic in topics.values() for t in (topic, topic + ".dlq")])

        @dataclass
        class _Context:
            app: Notifications
            cipher: PersonalDataCipher
            view: NotificationsView
            templates: Templates
            settings: NotificationsSettings
            outbox: Outbox | None
            access_log: AccessLog
            directory: DirectoryView

        @contextlib.asynccontextmanager
        async def _no_lifespan(_: FastAPI) -> Any:
            yield

        http = create_app(
            title="notifications", description="", lifespan=_no_lifespan, readiness={}
        )
        http.include_router(
            build_router(
                _Context(app, cipher, view, templates, settings, outbox, access_log, directory),
                principal_dependency(TokenCodec.from_settings(stack)),
            )
        )
        yield NotificationsHarness(
            settings=settings,
            app=app,
            view=view,
            directory=directory,
            cipher=cipher,
            composer=composer,
            mailer=mailer,
            outbox=outbox,
            clock=clock,
            topics=topics,
            prefix=f"notifications-test-{tag}",
            database=database,
            http=http,
            access_log=access_log,
            ledger=ledger,
            runners=[runner],
        )
    finally:
        runner.__exit__(None, None, None)
        app.close()
        pool.close()
        with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )


class RunningConsumers:
    """The harness's consumers on a broker of their own, started and stopped by the test."""

    def __init__(
        self, stack: ServiceSettings, harness: NotificationsHarness, prefix: str | None = None
    ) -> None:
        self.prefix = prefix or harness.prefix
        self.broker = build_broker(stack, f"{self.prefix}-broker")
        self.pool = ConnectionPool(
            stack.database_url(harness.database), min_size=1, max_size=2, open=True
        )
        self.dead_letters = DeadLetters(self.broker, self.pool)
        self.dead_letters.create_schema()
        for consumer in build_consumers(
            harness.app, harness.directory, prefix=self.prefix, topics=harness.topics
        ):
            register(self.broker, consumer, self.dead_letters, retries=1, backoff_seconds=0.05)

    async def __aenter__(self) -> RunningConsumers:
        await self.broker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.broker.stop()
        self.pool.close()


def publish(producer: Any, topic: str, *envelopes: Envelope[Payload]) -> None:
    for envelope in envelopes:
        value = envelope.model_dump_json(serialize_as_any=True).encode()
        producer.send(topic, value=value, key=envelope.subject.bytes).get(timeout=10)
