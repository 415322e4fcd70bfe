"""The coaching service assembled in the test process, against the real PostgreSQL and Kafka.

Everything lives in the test database (so it never meets a running coaching service): the
application, its three projections (run by the library's projection runner, as in the
service), the case directory fed by the consumer, and the HTTP routes over them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from coaching.api import build_provider_router, build_router
from coaching.application import Coachings
from coaching.consumers import build_consumers
from coaching.projections import (
    CaseDirectoryView,
    CoachingRecordProjection,
    CoachingRecordView,
    ProgrammeProjection,
    ProgrammeView,
    RegistryProjection,
    RegistryView,
)
from eventsourcing.persistence import Tracking
from eventsourcing.projection import ProjectionRunner
from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import ContactLost, ContactLostReason, Evidence, SealedPerson
from shared.contracts.visits import Need, NextStep, VisitCompleted, VisitOutcome
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.views import build_view
from shared.http.access_log import AccessLog
from shared.http.app import create_app
from shared.http.auth import TokenCodec, principal_dependency
from shared.messaging.consumer import Consumer, DeadLetters, register
from shared.messaging.kafka import build_broker
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE, person


@dataclass
class CoachingHarness:
    app: Coachings
    cipher: PersonalDataCipher
    registry: RegistryView
    records: CoachingRecordView
    programmes: ProgrammeView
    directory: CaseDirectoryView
    access_log: AccessLog
    extension_due_days: int = 14
    runners: list[ProjectionRunner[Any, Any]] = field(default_factory=list)


@contextlib.contextmanager
def coaching_harness(
    settings: ServiceSettings,
    cipher: PersonalDataCipher,
    *,
    today: Callable[[], date] = date.today,
) -> Iterator[CoachingHarness]:
    env = eventsourcing_env(settings, TEST_DATABASE)
    app = Coachings(env, cipher=cipher, today=today)
    runners: list[ProjectionRunner[Any, Any]] = []
    pool = ConnectionPool(settings.database_url(TEST_DATABASE), min_size=1, max_size=2)
    try:
        access_log = AccessLog(pool, "coaching-test")
        access_log.create_schema()
        for projection_class, view_class in (
            (RegistryProjection, RegistryView),
            (CoachingRecordProjection, CoachingRecordView),
            (ProgrammeProjection, ProgrammeView),
        ):
            runner: ProjectionRunner[Any, Any] = ProjectionRunner(
                application_class=Coachings,
                projection_class=projection_class,
                view_class=view_class,
                env=env,
            )
            runners.append(runner.__enter__())
        yield CoachingHarness(
            app=app,
            cipher=cipher,
            registry=runners[0].projection.view,
            records=runners[1].projection.view,
            programmes=runners[2].projection.view,
            directory=build_view(CaseDirectoryView, env, "case_directory"),
            access_log=access_log,
            runners=runners,
        )
    finally:
        for runner in runners:
            runner.__exit__(None, None, None)
        app.close()
        pool.close()


def http_app(harness: CoachingHarness, settings: ServiceSettings) -> FastAPI:
    """The coaching routes over the harness (no lifespan: everything runs already)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        yield

    http = create_app(title="coaching (test)", description="", lifespan=lifespan, readiness={})
    authenticate = principal_dependency(TokenCodec.from_settings(settings))
    http.include_router(build_router(harness, authenticate))
    http.include_router(build_provider_router(harness, authenticate))
    return http


class RunningConsumers:
    """The coaching consumers on test topics, with groups and a broker of their own."""

    def __init__(
        self,
        settings: ServiceSettings,
        pool: ConnectionPool,
        harness: CoachingHarness,
        *,
        contacts_topic: str,
        visits_topic: str,
    ) -> None:
        self.prefix = f"coaching-test-{uuid.uuid4().hex[:8]}"
        self.broker = build_broker(settings, self.prefix)
        self.dead_letters = DeadLetters(self.broker, pool)
        self.dead_letters.create_schema()
        self.consumers: list[Consumer] = build_consumers(
            harness.app,
            harness.directory,
            prefix=self.prefix,
            contacts_topic=contacts_topic,
            visits_topic=visits_topic,
        )
        for consumer in self.consumers:
            register(self.broker, consumer, self.dead_letters, retries=1, backoff_seconds=0.05)

    async def __aenter__(self) -> RunningConsumers:
        await self.broker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.broker.stop()


def envelope_of(
    payload: Payload, district: str, subject: uuid.UUID, producer: str
) -> Envelope[Payload]:
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    envelope: Envelope[Payload] = contract(
        event_id=uuid.uuid4(),
        event_type=payload.event_type,
        schema_version=payload.schema_version,
        occurred_at=datetime.now(UTC),
        producer=producer,
        district=district,
        subject=subject,
        correlation_id=uuid.uuid4(),
        payload=payload,
    )
    return envelope


def contact_lost(
    cipher: PersonalDataCipher, district: str, **who: Any
) -> tuple[Envelope[Payload], dict[str, Any]]:
    """A ContactLost of an invented person, as the contacts relay publishes it."""
    who = person(**who)
    subject = cipher.subject_for(who["customer_number"])
    payload = ContactLost(
        case_id=uuid.uuid4(),
        local_office="mitte",
        person=SealedPerson(
            customer_number=cipher.seal(subject, who["customer_number"]),
            name=cipher.seal(subject, who["name"]),
            address=cipher.seal(subject, who["address"]),
            phone=cipher.seal(subject, who["phone"]),
        ),
        reason=ContactLostReason.MISSED_APPOINTMENTS,
        evidence=Evidence(unanswered_letters=2, missed_appointments=2),
        case_manager="cm-test",
        reported_by="cm-test",
    )
    return envelope_of(payload, district, subject, "contacts"), who


def visit_completed(
    lost: Envelope[Payload],
    *,
    next_step: NextStep = NextStep.COACHING_REFERRAL,
    consent: bool = True,
    needs: list[Need] | None = None,
) -> Envelope[Payload]:
    """A VisitCompleted for the case of ``lost``, as the visits relay publishes it."""
    case = lost.payload
    assert isinstance(case, ContactLost)
    payload = VisitCompleted(
        visit_id=uuid.uuid4(),
        case_id=case.case_id,
        outcome=VisitOutcome.MET_AND_TALKED,
        contact_made=True,
        completed_on=date.today(),
        attempt_number=1,
        coaching_referral_consent=consent,
        needs=(needs or [Need.DEBT]) if consent else None,
        next_step=next_step,
        recorded_by="ow-test",
    )
    return envelope_of(payload, lost.district, lost.subject, "visits")


def apply_directly(harness: CoachingHarness, envelope: Envelope[Payload]) -> None:
    """Put a contacts event into the case directory without Kafka (for view tests)."""
    tracking = Tracking(application_name=f"direct/{envelope.event_id}", notification_id=1)
    harness.directory.apply_once(
        tracking, lambda cursor: CaseDirectoryView.apply_contact_event(cursor, envelope)
    )
