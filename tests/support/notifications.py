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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import Message
from functools import partial
from typing import Any

import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from fastapi import FastAPI
from notifications import api
from notifications.api.deps import NotificationsState
from notifications.application import Notifications
from notifications.channels import SmtpMailer, sms_gateway
from notifications.domain import RetryPolicy
from notifications.letters import Composer
from notifications.main import open_notifications
from notifications.messaging import consumers
from notifications.outbox import Outbox
from notifications.projections.directory import DirectoryView
from notifications.projections.staff_directory import StaffDirectoryView
from notifications.projections.status import NotificationsView
from notifications.reminders import ReminderCheck
from notifications.rendering import Templates
from notifications.settings import NotificationsSettings
from notifications.staff_sync import StaffSync
from psycopg import sql
from psycopg_pool import ConnectionPool

from shared.contracts import Envelope, Payload
from shared.erasure import ErasureLedgerView
from shared.http.access_log import AccessLog
from shared.messaging.consumer import DeadLetters
from shared.messaging.kafka import build_broker, ensure_topics
from shared.messaging.subscription import register
from shared.privacy import PersonalDataCipher
from shared.runtime.app import routes_app
from shared.runtime.infrastructure import build_infrastructure
from shared.runtime.supervision import ProjectionRunners
from shared.settings import ServiceSettings
from tests.support.helpers import eventually
from tests.support.processes import free_port
from tests.support.services import running_service, service_settings


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
    staff: StaffDirectoryView
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
    runners: ProjectionRunners
    staff_sync: StaffSync | None = None

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
        self.staff.put_letterhead(district, letterhead(district), by="tl-test")
        for user, (name, form) in STAFF.items():
            self.staff.put_staff(
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
    *,
    smtp_port: int,
    policy: RetryPolicy | None = None,
    **changes: Any,
) -> Iterator[NotificationsHarness]:
    """The notifications service opened as its process opens it (``open_notifications``), on
    a database of its own, its projection running, its outbox sending to ``smtp_port``."""
    database = f"notifications_it_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    policy = policy or RetryPolicy()
    settings = service_settings(
        NotificationsSettings,
        stack,
        database,
        database_name=None,
        smtp_port=smtp_port,
        smtp_timeout_seconds=3,
        max_attempts=policy.max_attempts,
        backoff_base_seconds=policy.base_seconds,
        backoff_max_seconds=policy.max_seconds,
        **changes,
    )
    clock = Clock()
    templates = Templates(settings.templates_dir)
    infra = build_infrastructure("notifications", settings)
    opening = partial(open_notifications, infra, settings, templates, clock=clock)
    try:
        with running_service(infra, opening) as running:
            state = running.service.state
            assert isinstance(state, NotificationsState)
            assert running.runners is not None
            tag = uuid.uuid4().hex[:8]
            topics = {p: f"test.{p}.{tag}" for p in ("contacts", "visits", "coaching")}
            ensure_topics(stack, [t for topic in topics.values() for t in (topic, topic + ".dlq")])
            http = routes_app(infra, title="notifications", description="", routers=api.routers)
            http.state.service = state
            yield NotificationsHarness(
                settings=settings,
                app=state.app,
                view=state.view,
                directory=state.directory,
                staff=state.staff,
                cipher=state.cipher,
                composer=state.outbox.composer,
                mailer=state.outbox.mailer,
                outbox=state.outbox,
                clock=clock,
                topics=topics,
                prefix=f"notifications-test-{tag}",
                database=database,
                http=http,
                access_log=infra.access_log,
                ledger=running.ledger,
                runners=running.runners,
                staff_sync=state.staff_sync,
            )
    finally:
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
        for consumer in consumers(
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
