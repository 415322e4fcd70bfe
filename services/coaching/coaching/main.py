"""The composition root of the coaching service.

uvicorn coaching.main:create_app --factory --port 8103
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI

from coaching.api import build_provider_router, build_router, subject_export
from coaching.application import Coachings
from coaching.consumers import build_consumers
from coaching.integration import to_integration_event
from coaching.projections import FORGET as FORGET_COACHINGS
from coaching.projections import (
    CaseDirectoryView,
    CoachingRecordProjection,
    CoachingRecordView,
    ProgrammeProjection,
    ProgrammeView,
    RegistryProjection,
    RegistryView,
)
from coaching.settings import CoachingSettings
from shared.contracts import coaching as coaching_contracts
from shared.http.access_log import AccessLog
from shared.http.auth import Authenticator
from shared.messaging.consumer import Consumer
from shared.privacy import PersonalDataCipher
from shared.runtime.service import Runtime, ServiceSpec, create_service_app


@dataclass(frozen=True)
class CoachingContext:
    app: Coachings
    cipher: PersonalDataCipher
    registry: RegistryView
    records: CoachingRecordView
    programmes: ProgrammeView
    directory: CaseDirectoryView
    extension_due_days: int
    access_log: AccessLog


def build_spec(settings: CoachingSettings) -> ServiceSpec:
    def context_of(runtime: Runtime) -> CoachingContext:
        return CoachingContext(
            app=runtime.app,
            cipher=runtime.cipher,
            registry=runtime.view(RegistryView),
            records=runtime.view(CoachingRecordView),
            programmes=runtime.view(ProgrammeView),
            directory=runtime.view(CaseDirectoryView),
            extension_due_days=settings.extension_due_days,
            access_log=runtime.access_log,
        )

    def routers(runtime: Runtime, authenticate: Authenticator) -> Sequence[APIRouter]:
        context = context_of(runtime)
        return [build_router(context, authenticate), build_provider_router(context, authenticate)]

    def consumers(runtime: Runtime) -> Sequence[Consumer]:
        return build_consumers(
            runtime.app, runtime.view(CaseDirectoryView), prefix=runtime.settings.service_name
        )

    return ServiceSpec(
        name="coaching",
        title="Outreach coaching",
        description="Providers and coaches, coachings after a visit (§16k SGB II), the "
        "hand-over to the provider, and the Jobcenter's group programmes.",
        application=lambda env, cipher: Coachings(env, cipher=cipher),
        application_class=Coachings,
        mapper=to_integration_event,
        publishes=coaching_contracts.EVENTS,
        projections=[
            (RegistryProjection, RegistryView),
            (CoachingRecordProjection, CoachingRecordView),
            (ProgrammeProjection, ProgrammeView),
        ],
        consumed_views=[(CaseDirectoryView, "case_directory")],
        consumers=consumers,
        routers=routers,
        export=lambda runtime, subject, districts: subject_export(
            context_of(runtime), subject, districts
        ),
        forget=FORGET_COACHINGS,
    )


def create_app(settings: CoachingSettings | None = None) -> FastAPI:
    settings = settings or CoachingSettings()
    return create_service_app(build_spec(settings), settings)
