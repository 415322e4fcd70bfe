"""The composition root of the contacts service.

uvicorn contacts.main:create_app --factory --port 8101
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI

from contacts.api import build_router, subject_export
from contacts.application import Contacts
from contacts.consumers import build_consumers
from contacts.erasure_api import DataProtectionContext, build_data_protection_router
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
from shared.contracts import ERASURE_TOPIC
from shared.contracts import contacts as contacts_contracts
from shared.contracts.erasures import SubjectErased
from shared.feeds import FeedPublisher, FeedView, build_feed_router, feed_consumers
from shared.http.access_log import AccessLog
from shared.http.auth import Authenticator
from shared.messaging.consumer import Consumer
from shared.messaging.kafka import ensure_topics
from shared.privacy import PersonalDataCipher
from shared.runtime.service import RelaySpec, Runtime, ServiceSpec, create_service_app


@dataclass(frozen=True)
class ContactsContext:
    app: Contacts
    cipher: PersonalDataCipher
    queue_view: CaseQueueView
    detail_view: CaseDetailView
    access_log: AccessLog
    break_glass_ttl: timedelta


def _context(runtime: Runtime) -> ContactsContext:
    return ContactsContext(
        app=runtime.app,
        cipher=runtime.cipher,
        queue_view=runtime.view(CaseQueueView),
        detail_view=runtime.view(CaseDetailView),
        access_log=runtime.access_log,
        break_glass_ttl=timedelta(seconds=_break_glass_seconds(runtime)),
    )


def _routers(runtime: Runtime, authenticate: Authenticator) -> Sequence[APIRouter]:
    data_protection = DataProtectionContext(
        app=runtime.app,
        detail_view=runtime.view(CaseDetailView),
        destroy_key=runtime.keyring.destroy,
        destroy_category_key=runtime.keyring.destroy,
    )
    return [
        build_router(_context(runtime), authenticate),
        build_data_protection_router(data_protection, authenticate),
        build_feed_router(runtime.view(FeedView), authenticate),
    ]


def _consumers(runtime: Runtime) -> Sequence[Consumer]:
    prefix = runtime.settings.service_name
    return [
        *build_consumers(runtime.app, case_of=runtime.view(CaseDetailView).case_of, prefix=prefix),
        *feed_consumers(runtime.view(FeedView), prefix=prefix),
    ]


def _background(
    runtime: Runtime,
) -> Sequence[Callable[[asyncio.Event], Coroutine[Any, Any, None]]]:
    """The feed worker's publisher (its consumers are in ``_consumers``): contacts runs the
    feeds of the subscribing teams, whose registry lives in its database."""
    settings = runtime.settings
    publisher = FeedPublisher(
        runtime.view(FeedView), runtime.broker, lambda topics: ensure_topics(settings, topics)
    )
    return [publisher.run]


def _break_glass_seconds(runtime: Runtime) -> float:
    settings = runtime.settings
    return settings.break_glass_seconds if isinstance(settings, ContactsSettings) else 1800.0


SPEC = ServiceSpec(
    name="contacts",
    title="Outreach contacts",
    description="The outreach case of one person whose contact with the Jobcenter was lost.",
    application=lambda env, cipher: Contacts(env, cipher=cipher),
    application_class=Contacts,
    mapper=to_integration_event,
    publishes=contacts_contracts.EVENTS,
    projections=[
        (CaseQueueProjection, CaseQueueView),
        (CaseDetailProjection, CaseDetailView),
        (DataProtectionProjection, DataProtectionView),
    ],
    consumed_views=[(FeedView, "feeds")],
    consumers=_consumers,
    background=_background,
    routers=_routers,
    forget=FORGET_CASES,
    # The erasure tombstones go to the topic every service consumes, by a relay of their own.
    relays=[RelaySpec(topic=ERASURE_TOPIC, mapper=to_erasure_event, publishes=[SubjectErased])],
    export=lambda runtime, subject, districts: subject_export(
        _context(runtime), subject, districts
    ),
)


def create_app(settings: ContactsSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or ContactsSettings())
