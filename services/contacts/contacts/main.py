"""The composition root of the contacts service.

uvicorn contacts.main:create_app --factory --port 8101
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI

from contacts.api import build_router
from contacts.application import Contacts
from contacts.consumers import build_consumers
from contacts.integration import to_integration_event
from contacts.projections import (
    CaseDetailProjection,
    CaseDetailView,
    CaseQueueProjection,
    CaseQueueView,
)
from contacts.settings import ContactsSettings
from shared.auth import Principal
from shared.contracts import contacts as contacts_contracts
from shared.privacy import PersonalDataCipher
from shared.runtime import Runtime, ServiceSpec, create_service_app


@dataclass(frozen=True)
class ContactsContext:
    app: Contacts
    cipher: PersonalDataCipher
    queue_view: CaseQueueView
    detail_view: CaseDetailView


def _routers(runtime: Runtime, authenticate: Callable[..., Principal]) -> Sequence[APIRouter]:
    context = ContactsContext(
        app=runtime.app,
        cipher=runtime.cipher,
        queue_view=runtime.view(CaseQueueView),
        detail_view=runtime.view(CaseDetailView),
    )
    return [build_router(context, authenticate)]


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
    ],
    consumers=lambda runtime: build_consumers(runtime.app, prefix=runtime.settings.service_name),
    routers=_routers,
)


def create_app(settings: ContactsSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or ContactsSettings())
