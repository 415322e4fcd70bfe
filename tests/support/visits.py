"""The visits service built in the test process with the builders of ``visits.main``, against
the real PostgreSQL and Kafka.

Everything lives in the test database (so it never meets a running visits service): the
infrastructure, the service as ``open_visits`` opens it, its projections run by the runners
of production (``shared.runtime``: batches, restarts) and the routes over it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from eventsourcing.persistence import Tracking
from fastapi import FastAPI
from psycopg_pool import ConnectionPool
from visits import api, messaging
from visits.api.deps import VisitsState
from visits.application import Visits
from visits.domain import VisitRules
from visits.main import open_visits
from visits.projections.board import BoardVisitsProjection, BoardVisitsView, PlanningBoardView
from visits.projections.records import VisitRecordView
from visits.settings import VisitsSettings

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import (
    ContactLost,
    ContactLostReason,
    ContactRestored,
    Evidence,
    OutreachCaseClosed,
    SealedPerson,
)
from shared.http.access_log import AccessLog
from shared.messaging.consumer import Consumer, DeadLetters
from shared.messaging.kafka import build_broker
from shared.messaging.subscription import register
from shared.privacy import PersonalDataCipher
from shared.runtime.app import routes_app
from shared.runtime.infrastructure import build_infrastructure
from shared.runtime.running import Running
from shared.runtime.supervision import ProjectionRunners
from shared.settings import ServiceSettings
from tests.support.helpers import person
from tests.support.services import running_service, service_settings


@dataclass
class VisitsHarness:
    running: Running
    state: VisitsState

    @property
    def app(self) -> Visits:
        return self.state.visits

    @property
    def board(self) -> PlanningBoardView:
        return self.state.board

    @property
    def records(self) -> VisitRecordView:
        return self.state.records

    @property
    def rules(self) -> VisitRules:
        return self.state.rules

    @property
    def cipher(self) -> PersonalDataCipher:
        return self.state.cipher

    @property
    def access_log(self) -> AccessLog:
        return self.running.infra.access_log

    @property
    def runners(self) -> ProjectionRunners:
        assert self.running.runners is not None
        return self.running.runners

    @property
    def board_writer(self) -> BoardVisitsView:
        return self.running.infra.view(BoardVisitsView, BoardVisitsProjection.name)


@contextlib.contextmanager
def visits_harness(
    stack: ServiceSettings,
    *,
    rules: VisitRules | None = None,
    today: Callable[[], date] = date.today,
) -> Iterator[VisitsHarness]:
    """The visits service opened as its process opens it, its projections running."""
    infra = build_infrastructure("visits", service_settings(VisitsSettings, stack, "visits-test"))
    opening = partial(open_visits, infra, rules or VisitRules(), today)
    with running_service(infra, opening) as running:
        state = running.service.state
        assert isinstance(state, VisitsState)
        yield VisitsHarness(running, state)


def http_app(harness: VisitsHarness, settings: ServiceSettings) -> FastAPI:
    """The visits routes over the harness (no lifespan: everything runs already)."""
    http = routes_app(
        harness.running.infra, title="visits (test)", description="", routers=api.routers
    )
    http.state.service = harness.state
    return http


class RunningConsumers:
    """The visits consumers on a test topic, with groups and a broker of their own."""

    def __init__(
        self, settings: ServiceSettings, pool: ConnectionPool, harness: VisitsHarness, topic: str
    ) -> None:
        self.prefix = f"visits-test-{uuid.uuid4().hex[:8]}"
        self.broker = build_broker(settings, self.prefix)
        self.dead_letters = DeadLetters(self.broker, pool)
        self.dead_letters.create_schema()
        self.consumers: list[Consumer] = messaging.consumers(
            harness.app,
            harness.board,
            harness.state.contracts,
            prefix=self.prefix,
            contacts_topic=topic,
        )
        for consumer in self.consumers:
            register(self.broker, consumer, self.dead_letters, retries=1, backoff_seconds=0.05)

    async def __aenter__(self) -> RunningConsumers:
        await self.broker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.broker.stop()


def contacts_envelope(payload: Payload, district: str, subject: uuid.UUID) -> Envelope[Payload]:
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    envelope: Envelope[Payload] = contract(
        event_id=uuid.uuid4(),
        event_type=payload.event_type,
        schema_version=payload.schema_version,
        occurred_at=datetime.now(UTC),
        producer="contacts",
        district=district,
        subject=subject,
        correlation_id=uuid.uuid4(),
        payload=payload,
    )
    return envelope


def contact_lost(
    cipher: PersonalDataCipher, district: str, deadline: date | None = None, **who: Any
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
        ),
        reason=ContactLostReason.MISSED_APPOINTMENTS,
        evidence=Evidence(unanswered_letters=2, missed_appointments=2),
        deadline=deadline,
        case_manager="cm-test",
        reported_by="cm-test",
    )
    return contacts_envelope(payload, district, subject), who


def contact_restored(lost: Envelope[Payload]) -> Envelope[Payload]:
    payload = lost.payload
    assert isinstance(payload, ContactLost)
    return contacts_envelope(
        ContactRestored(
            case_id=payload.case_id,
            channel="after_announcement_letter",
            restored_on=date.today(),
            case_manager="cm-test",
            recorded_by="cm-test",
        ),
        lost.district,
        lost.subject,
    )


def case_closed(lost: Envelope[Payload], reason: str = "moved_away") -> Envelope[Payload]:
    payload = lost.payload
    assert isinstance(payload, ContactLost)
    return contacts_envelope(
        OutreachCaseClosed(case_id=payload.case_id, reason=reason, closed_by="tl-test"),
        lost.district,
        lost.subject,
    )


def put_on_board(
    harness: VisitsHarness, district: str, deadline: date | None = None, **who: Any
) -> tuple[Envelope[Payload], dict[str, Any]]:
    """A person on the district's board, applied as the board consumer applies ContactLost."""
    lost, who = contact_lost(harness.cipher, district, deadline, **who)
    applied = harness.board.apply_once(
        Tracking(f"visits-test-board/{lost.event_id}", 1),
        lambda cursor: PlanningBoardView.apply_contact_event(cursor, lost),
    )
    assert applied
    return lost, who
