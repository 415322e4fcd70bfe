"""The composition root of the visits service.

uvicorn visits.main:create_app --factory --port 8102
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI

from shared.contracts import visits as visits_contracts
from shared.http.access_log import AccessLog
from shared.http.auth import Authenticator
from shared.messaging.consumer import Consumer
from shared.privacy import PersonalDataCipher
from shared.runtime.service import Runtime, ServiceSpec, create_service_app
from visits.api import build_router, subject_export
from visits.application import Visits
from visits.consumers import build_consumers
from visits.domain import VisitRules
from visits.integration import to_integration_event
from visits.outreach_contracts import (
    OutreachContractsView,
    admit_contracted_providers,
    outreach_contracts_consumer,
)
from visits.projections import FORGET as FORGET_VISITS
from visits.projections import (
    BoardVisitsProjection,
    BoardVisitsView,
    PlanningBoardView,
    VisitRecordProjection,
    VisitRecordView,
)
from visits.settings import VisitsSettings


@dataclass(frozen=True)
class VisitsContext:
    app: Visits
    cipher: PersonalDataCipher
    board: PlanningBoardView
    records: VisitRecordView
    rules: VisitRules
    access_log: AccessLog


def build_spec(rules: VisitRules) -> ServiceSpec:
    def context_of(runtime: Runtime) -> VisitsContext:
        return VisitsContext(
            app=runtime.app,
            cipher=runtime.cipher,
            board=runtime.view(PlanningBoardView),
            records=runtime.view(VisitRecordView),
            rules=rules,
            access_log=runtime.access_log,
        )

    def routers(runtime: Runtime, authenticate: Authenticator) -> Sequence[APIRouter]:
        admitted = admit_contracted_providers(authenticate, runtime.view(OutreachContractsView))
        return [build_router(context_of(runtime), admitted)]

    def consumers(runtime: Runtime) -> Sequence[Consumer]:
        prefix = runtime.settings.service_name
        return [
            *build_consumers(runtime.app, runtime.view(PlanningBoardView), prefix=prefix),
            outreach_contracts_consumer(runtime.view(OutreachContractsView), prefix=prefix),
        ]

    return ServiceSpec(
        name="visits",
        title="Outreach visits",
        description="Announcing home visits in writing, making them and recording outcomes.",
        application=lambda env, cipher: Visits(env, cipher=cipher, rules=rules),
        application_class=Visits,
        mapper=to_integration_event,
        publishes=visits_contracts.EVENTS,
        projections=[
            (BoardVisitsProjection, BoardVisitsView),
            (VisitRecordProjection, VisitRecordView),
        ],
        consumed_views=[
            (PlanningBoardView, "planning_board"),
            (OutreachContractsView, "outreach_contracts"),
        ],
        consumers=consumers,
        routers=routers,
        export=lambda runtime, subject, districts: subject_export(
            context_of(runtime), subject, districts
        ),
        forget=FORGET_VISITS,
    )


def create_app(settings: VisitsSettings | None = None) -> FastAPI:
    settings = settings or VisitsSettings()
    return create_service_app(build_spec(settings.rules), settings)
