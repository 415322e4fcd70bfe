"""The composition root of the contacts service: what it is made of and what it runs.

uvicorn contacts.main:create_app --factory --port 8101
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from fastapi import FastAPI

from contacts import api, messaging
from contacts.api.deps import ContactsState
from contacts.api.presenters import subject_export
from contacts.application import Contacts
from contacts.feeds import FeedPublisher, FeedView, feed_consumers
from contacts.integration import to_erasure_event, to_integration_event
from contacts.projections import FORGET
from contacts.projections.data_protection import DataProtectionProjection, DataProtectionView
from contacts.projections.detail import CaseDetailProjection, CaseDetailView
from contacts.projections.queue import CaseQueueProjection, CaseQueueView
from contacts.reporting.metrics import figures_part
from contacts.reporting.view import OutreachReportView, report_consumers
from contacts.settings import ContactsSettings
from shared.contracts import ERASURE_TOPIC, topic_of
from shared.contracts import contacts as contacts_contracts
from shared.contracts.erasures import SubjectErased
from shared.erasure import forget_all
from shared.eventsourcing.projections import EventLog, Projected
from shared.messaging.kafka import ensure_topics
from shared.runtime.app import service_app
from shared.runtime.infrastructure import Infrastructure, build_infrastructure
from shared.runtime.service import RelayTo, Service

LOG = EventLog(
    Contacts,
    Projected(CaseQueueProjection, CaseQueueView),
    Projected(CaseDetailProjection, CaseDetailView),
    Projected(DataProtectionProjection, DataProtectionView),
)
"""The contacts event log and its projections (run by the worker; ``/ops`` and the rebuild
and parked-events commands find them by name)."""


def create_app(settings: ContactsSettings | None = None) -> FastAPI:
    settings = settings or ContactsSettings()
    infra = build_infrastructure("contacts", settings)
    return service_app(
        infra,
        title="Outreach contacts",
        description="The outreach case of one person whose contact with the Jobcenter was lost.",
        open_service=partial(open_contacts, infra, settings),
        routers=api.routers,
    )


def open_contacts(infra: Infrastructure, settings: ContactsSettings) -> Service[ContactsState]:
    """The application and views of the contacts service, and what its process runs."""
    contacts = Contacts(infra.env, cipher=infra.cipher)
    detail = infra.view(CaseDetailView, CaseDetailProjection.name)
    # The feeds of the subscribing teams, whose registry and outbox live in this database.
    feeds = infra.view(FeedView, "feeds")
    # The outreach figures: consumer groups and tables of their own, rebuilt on their own.
    report = infra.view(OutreachReportView, "outreach_report")
    state = ContactsState(
        contacts=contacts,
        cipher=infra.cipher,
        queue=infra.view(CaseQueueView, CaseQueueProjection.name),
        detail=detail,
        feeds=feeds,
        report=report,
        keyring=infra.keyring,
        access_log=infra.access_log,
        break_glass_ttl=timedelta(seconds=settings.break_glass_seconds),
    )
    prefix = settings.service_name
    publisher = FeedPublisher(
        feeds, infra.broker, lambda topics: ensure_topics(settings, topics), lock_dsn=infra.dsn
    )
    return Service(
        app=contacts,
        log=LOG,
        state=state,
        relays=[
            RelayTo(topic_of("contacts"), to_integration_event, contacts_contracts.EVENTS),
            # The erasure tombstones go to the topic every service consumes.
            RelayTo(ERASURE_TOPIC, to_erasure_event, [SubjectErased]),
        ],
        consumers=[
            *messaging.consumers(contacts, case_of=detail.case_of, prefix=prefix),
            *feed_consumers(feeds, prefix=prefix),
            *report_consumers(report, prefix=prefix),
        ],
        background=[publisher.run],
        forget=forget_all(FORGET, report.forget),
        metrics={"outreach_figures": figures_part(report)},
        export=partial(subject_export, state),
    )
