"""The coaching service built in the test process with the builders of ``coaching.main``,
against the real PostgreSQL and Kafka.

Everything lives in the test database (so it never meets a running coaching service): the
service as ``open_coaching`` opens it, its three projections run by the runners of production
(``shared.runtime``), the case directory fed by the consumer, and the HTTP routes over them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from coaching import api, messaging
from coaching.api.deps import CoachingContext
from coaching.application import Coachings
from coaching.main import open_coaching
from coaching.projections.case_directory import CaseDirectoryView
from coaching.projections.programmes import ProgrammeView
from coaching.projections.records import CoachingRecordView
from coaching.projections.registry import RegistryView
from coaching.settings import CoachingSettings
from eventsourcing.persistence import Tracking
from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import ContactLost, ContactLostReason, Evidence, SealedPerson
from shared.contracts.visits import Need, NextStep, VisitCompleted, VisitOutcome
from shared.http.access_log import AccessLog
from shared.messaging.consumer import Consumer, DeadLetters
from shared.messaging.kafka import build_broker
from shared.messaging.subscription import register
from shared.privacy import PersonalDataCipher
from shared.runtime.app import routes_app
from shared.runtime.infrastructure import build_infrastructure
from shared.runtime.running import Running
from shared.settings import ServiceSettings
from tests.support.helpers import person
from tests.support.services import running_service, service_settings


@dataclass
class CoachingHarness:
    running: Running
    context: CoachingContext

    @property
    def app(self) -> Coachings:
        return self.context.app

    @property
    def cipher(self) -> PersonalDataCipher:
        return self.context.cipher

    @property
    def registry(self) -> RegistryView:
        return self.context.registry

    @property
    def records(self) -> CoachingRecordView:
        return self.context.records

    @property
    def programmes(self) -> ProgrammeView:
        return self.context.programmes

    @property
    def directory(self) -> CaseDirectoryView:
        return self.context.directory

    @property
    def access_log(self) -> AccessLog:
        return self.context.access_log


@contextlib.contextmanager
def coaching_harness(
    stack: ServiceSettings,
    *,
    today: Callable[[], date] = date.today,
) -> Iterator[CoachingHarness]:
    """The coaching service opened as its process opens it, its projections running."""
    coaching_settings = service_settings(CoachingSettings, stack, "coaching-test")
    infra = build_infrastructure("coaching", coaching_settings)
    with running_service(infra, partial(open_coaching, infra, coaching_settings, today)) as running:
        context = running.service.state
        assert isinstance(context, CoachingContext)
        yield CoachingHarness(running, context)


def http_app(harness: CoachingHarness, settings: ServiceSettings) -> FastAPI:
    """The coaching routes over the harness (no lifespan: everything runs already)."""
    http = routes_app(
        harness.running.infra,
        title="coaching (test)",
        description="",
        routers=api.routers,
    )
    http.state.service = harness.context
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
        self.consumers: list[Consumer] = messaging.consumers(
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
