"""What the contacts routes reach of the running service (``app.state.service``, opened by
``contacts.main``), as a typed dependency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from contacts.application import Contacts
from contacts.projections import CaseDetailView, CaseQueueView
from shared.feeds import FeedView
from shared.http.access_log import AccessLog
from shared.http.state import app_state
from shared.keyring import Keyring
from shared.privacy import PersonalDataCipher


@dataclass(frozen=True)
class ContactsContext:
    app: Contacts
    cipher: PersonalDataCipher
    queue_view: CaseQueueView
    detail_view: CaseDetailView
    feeds: FeedView
    keyring: Keyring
    access_log: AccessLog
    break_glass_ttl: timedelta


def service_state(request: Request) -> ContactsContext:
    return app_state(request, "service", ContactsContext)


Context = Annotated[ContactsContext, Depends(service_state)]


def feed_view(context: Context) -> FeedView:
    return context.feeds
