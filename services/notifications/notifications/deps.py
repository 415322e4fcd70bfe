"""What the notifications routes reach of the running service (``app.state.service``, opened
by ``notifications.main``), as a typed dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from notifications.application import Notifications
from notifications.outbox import Outbox
from notifications.projections import DirectoryView, NotificationsView
from notifications.rendering import Templates
from notifications.settings import NotificationsSettings
from shared.http.access_log import AccessLog
from shared.http.state import app_state
from shared.privacy import PersonalDataCipher


@dataclass(frozen=True)
class NotificationsContext:
    app: Notifications
    cipher: PersonalDataCipher
    view: NotificationsView
    templates: Templates
    settings: NotificationsSettings
    access_log: AccessLog
    directory: DirectoryView
    outbox: Outbox


def service_state(request: Request) -> NotificationsContext:
    return app_state(request, "service", NotificationsContext)


Context = Annotated[NotificationsContext, Depends(service_state)]
