"""The composition root of the visits service: what it is made of and what it runs.

uvicorn visits.main:create_app --factory --port 8102
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial

from fastapi import FastAPI

from shared.contracts import topic_of
from shared.contracts import visits as visits_contracts
from shared.eventsourcing.projections import EventLog, Projected
from shared.runtime.app import service_app
from shared.runtime.infrastructure import Infrastructure, build_infrastructure
from shared.runtime.service import RelayTo, Service
from visits import api, messaging
from visits.api.deps import VisitsState
from visits.api.presenters import subject_export
from visits.application import Visits
from visits.domain import VisitRules
from visits.integration import to_integration_event
from visits.projections import FORGET
from visits.projections.board import BoardVisitsProjection, BoardVisitsView, PlanningBoardView
from visits.projections.calendar_feeds import CalendarFeedProjection, CalendarFeedView
from visits.projections.outreach_contracts import OutreachContractsView
from visits.projections.records import VisitRecordProjection, VisitRecordView
from visits.settings import VisitsSettings

LOG = EventLog(
    Visits,
    Projected(BoardVisitsProjection, BoardVisitsView),
    Projected(VisitRecordProjection, VisitRecordView),
    Projected(CalendarFeedProjection, CalendarFeedView),
)
"""The visits event log and its projections (run by the worker; ``/ops`` and the rebuild and
parked-events commands find them by name)."""


def create_app(settings: VisitsSettings | None = None) -> FastAPI:
    settings = settings or VisitsSettings()
    infra = build_infrastructure("visits", settings)
    return service_app(
        infra,
        title="Outreach visits",
        description="Announcing home visits in writing, making them and recording outcomes.",
        open_service=partial(open_visits, infra, settings.rules),
        routers=api.routers,
    )


def open_visits(
    infra: Infrastructure, rules: VisitRules, today: Callable[[], date] = date.today
) -> Service[VisitsState]:
    """The application and views of the visits service, and what its process runs."""
    visits = Visits(infra.env, cipher=infra.cipher, rules=rules, today=today)
    board = infra.view(PlanningBoardView, "planning_board")
    records = infra.view(VisitRecordView, VisitRecordProjection.name)
    contracts = infra.view(OutreachContractsView, "outreach_contracts")
    feeds = infra.view(CalendarFeedView, CalendarFeedProjection.name)
    return Service(
        app=visits,
        log=LOG,
        state=VisitsState(visits, board, records, contracts, infra.cipher, rules, feeds),
        relays=[RelayTo(topic_of("visits"), to_integration_event, visits_contracts.EVENTS)],
        consumers=messaging.consumers(visits, board, contracts, prefix=infra.settings.service_name),
        forget=FORGET,
        export=partial(subject_export, infra.cipher, board, records),
    )
