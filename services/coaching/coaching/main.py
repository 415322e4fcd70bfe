"""The composition root of the coaching service: what it is made of and what it runs.

uvicorn coaching.main:create_app --factory --port 8103
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial

from fastapi import FastAPI

from coaching import api, messaging
from coaching.api.deps import CoachingContext
from coaching.api.presenters import subject_export
from coaching.application import Coachings
from coaching.integration import to_integration_event
from coaching.projections import FORGET
from coaching.projections.case_directory import CaseDirectoryView
from coaching.projections.programmes import ProgrammeProjection, ProgrammeView
from coaching.projections.records import CoachingRecordProjection, CoachingRecordView
from coaching.projections.registry import RegistryProjection, RegistryView
from coaching.settings import CoachingSettings
from shared.contracts import coaching as coaching_contracts
from shared.contracts import topic_of
from shared.eventsourcing.projections import EventLog, Projected
from shared.runtime.app import service_app
from shared.runtime.infrastructure import Infrastructure, build_infrastructure
from shared.runtime.service import RelayTo, Service

LOG = EventLog(
    Coachings,
    Projected(RegistryProjection, RegistryView),
    Projected(CoachingRecordProjection, CoachingRecordView),
    Projected(ProgrammeProjection, ProgrammeView),
)
"""The coaching event log and its projections (run by the worker; ``/ops`` and the rebuild
and parked-events commands find them by name)."""


def create_app(settings: CoachingSettings | None = None) -> FastAPI:
    settings = settings or CoachingSettings()
    infra = build_infrastructure("coaching", settings)
    return service_app(
        infra,
        title="Outreach coaching",
        description="Providers and coaches, coachings after a visit (§16k SGB II), the "
        "hand-over to the provider, and the Jobcenter's group programmes.",
        open_service=partial(open_coaching, infra, settings),
        routers=api.routers,
    )


def open_coaching(
    infra: Infrastructure, settings: CoachingSettings, today: Callable[[], date] = date.today
) -> Service[CoachingContext]:
    """The application and views of the coaching service, and what its process runs."""
    coachings = Coachings(infra.env, cipher=infra.cipher, today=today)
    directory = infra.view(CaseDirectoryView, "case_directory")
    context = CoachingContext(
        app=coachings,
        cipher=infra.cipher,
        registry=infra.view(RegistryView, RegistryProjection.name),
        records=infra.view(CoachingRecordView, CoachingRecordProjection.name),
        programmes=infra.view(ProgrammeView, ProgrammeProjection.name),
        directory=directory,
        extension_due_days=settings.extension_due_days,
        access_log=infra.access_log,
    )
    return Service(
        app=coachings,
        log=LOG,
        state=context,
        relays=[RelayTo(topic_of("coaching"), to_integration_event, coaching_contracts.EVENTS)],
        consumers=messaging.consumers(coachings, directory, prefix=settings.service_name),
        forget=FORGET,
        export=partial(subject_export, context),
    )
