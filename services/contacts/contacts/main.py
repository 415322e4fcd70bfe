"""The composition root of the contacts service: what it is made of and what it runs.

uvicorn contacts.main:create_app --factory --port 8101
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from fastapi import FastAPI

from contacts import api, erasure_api
from contacts.application import Contacts
from contacts.consumers import build_consumers
from contacts.deps import ContactsContext, feed_view
from contacts.integration import to_erasure_event, to_integration_event
from contacts.projections import FORGET as FORGET_CASES
from contacts.projections import (
    CaseDetailProjection,
    CaseDetailView,
    CaseQueueProjection,
    CaseQueueView,
    DataProtectionProjection,
    DataProtectionView,
)
from contacts.settings import ContactsSettings
from shared.contracts import ERASURE_TOPIC, topic_of
from shared.contracts import contacts as contacts_contracts
from shared.contracts.erasures import SubjectErased
from shared.eventsourcing.projections import EventLog, Projected
from shared.feeds import FeedPublisher, FeedView, build_feed_router, feed_consumers
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
        routers=[api.router, erasure_api.router, build_feed_router(feed_view)],
    )


def open_contacts(infra: Infrastructure, settings: ContactsSettings) -> Service[ContactsContext]:
    """The application and views of the contacts service, and what its process runs."""
    contacts = Contacts(infra.env, cipher=infra.cipher)
    detail = infra.view(CaseDetailView, CaseDetailProjection.name)
    feeds = infra.view(FeedView, "feeds")
    context = ContactsContext(
        app=contacts,
        cipher=infra.cipher,
        queue_view=infra.view(CaseQueueView, CaseQueueProjection.name),
        detail_view=detail,
        feeds=feeds,
        keyring=infra.keyring,
        access_log=infra.access_log,
        break_glass_ttl=timedelta(seconds=settings.break_glass_seconds),
    )
    prefix = settings.service_name
    # The feeds of the subscribing teams, whose registry lives in the contacts database.
    publisher = FeedPublisher(feeds, infra.broker, lambda topics: ensure_topics(settings, topics))
    return Service(
        app=contacts,
        log=LOG,
        state=context,
        relays=[
            RelayTo(topic_of("contacts"), to_integration_event, contacts_contracts.EVENTS),
            # The erasure tombstones go to the topic every service consumes.
            RelayTo(ERASURE_TOPIC, to_erasure_event, [SubjectErased]),
        ],
        consumers=[
            *build_consumers(contacts, case_of=detail.case_of, prefix=prefix),
            *feed_consumers(feeds, prefix=prefix),
        ],
        background=[publisher.run],
        forget=FORGET_CASES,
        export=partial(api.subject_export, context),
    )
