"""The visits service assembled in the test process, against the real PostgreSQL and Kafka.

Everything lives in the test database (so it never meets a running visits service): the
application, its two projections (run by the library's projection runner, as in the
service) and the planning board fed by the consumers.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import ProjectionRunner
from fastapi import FastAPI
from psycopg_pool import ConnectionPool
from visits.api import build_router
from visits.application import Visits
from visits.consumers import build_consumers
from visits.domain import VisitRules
from visits.projections import (
    BoardVisitsProjection,
    BoardVisitsView,
    PlanningBoardView,
    VisitRecordProjection,
    VisitRecordView,
)

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import (
    ContactLost,
    ContactLostReason,
    ContactRestored,
    Evidence,
    OutreachCaseClosed,
    SealedPerson,
)
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
class VisitsHarness:
    app: Visits
    board: PlanningBoardView
    records: VisitRecordView
    rules: VisitRules
    cipher: PersonalDataCipher
    access_log: AccessLog
    runners: list[ProjectionRunner[Any, Any]] = field(default_factory=list)

    @property
    def board_writer(self) -> BoardVisitsView:
        view: BoardVisitsView = self.runners[0].projection.view
        return view


@contextlib.contextmanager
def visits_harness(
    settings: ServiceSettings,
    cipher: PersonalDataCipher,
    *,
    rules: VisitRules | None = None,
    today: Callable[[], date] = date.today,
) -> Iterator[VisitsHarness]:
    env = eventsourcing_env(settings, TEST_DATABASE)
    rules = rules or VisitRules()
    app = Visits(env, cipher=cipher, rules=rules, today=today)
    runners: list[ProjectionRunner[Any, Any]] = []
    pool = ConnectionPool(settings.database_url(TEST_DATABASE), min_size=1, max_size=2)
    try:
        access_log = AccessLog(pool, "visits-test")
        access_log.create_schema()
        for projection_class, view_class in (
            (BoardVisitsProjection, BoardVisitsView),
            (VisitRecordProjection, VisitRecordView),
        ):
            runner: ProjectionRunner[Any, Any] = ProjectionRunner(
                application_class=Visits,
                projection_class=projection_class,
                view_class=view_class,
                env=env,
            )
            runners.append(runner.__enter__())
        yield VisitsHarness(
            app=app,
            board=build_view(PlanningBoardView, env, "planning_board"),
            records=runners[1].projection.view,
            rules=rules,
            cipher=cipher,
            access_log=access_log,
            runners=runners,
        )
    finally:
        for runner in runners:
            runner.__exit__(None, None, None)
        app.close()
        pool.close()


def http_app(harness: VisitsHarness, settings: ServiceSettings) -> FastAPI:
    """The visits routes over the harness (no lifespan: everything runs already)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        yield

    http = create_app(title="visits (test)", description="", lifespan=lifespan, readiness={})
    authenticate = principal_dependency(TokenCodec.from_settings(settings))
    http.include_router(build_router(harness, authenticate))
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
        self.consumers: list[Consumer] = build_consumers(
            harness.app, harness.board, topic=topic, prefix=self.prefix
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
