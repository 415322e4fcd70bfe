"""The composition root of the notifications service.

uvicorn notifications.main:create_app --factory --port 8104
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI

from notifications.api import build_router, subject_export
from notifications.application import Notifications
from notifications.channels import SmtpMailer, sms_gateway
from notifications.consumers import build_consumers
from notifications.domain import RetryPolicy
from notifications.integration import to_integration_event
from notifications.outbox import BERLIN, Composer, Outbox, ReminderCheck
from notifications.projections import DirectoryView, NotificationsProjection, NotificationsView
from notifications.rendering import Templates
from notifications.settings import NotificationsSettings
from shared.contracts import notifications as notifications_contracts
from shared.erasure import ErasureLedgerView, blank_tokens, forget_all
from shared.http.access_log import AccessLog
from shared.http.auth import Authenticator
from shared.messaging.consumer import Consumer
from shared.privacy import PersonalDataCipher
from shared.runtime.service import Runtime, ServiceSpec, create_service_app


@dataclass
class NotificationsContext:
    app: Notifications
    cipher: PersonalDataCipher
    view: NotificationsView
    templates: Templates
    settings: NotificationsSettings
    access_log: AccessLog
    directory: DirectoryView
    outbox: Outbox | None = None
    workers: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = field(
        default_factory=list
    )


def build_spec(settings: NotificationsSettings) -> ServiceSpec:
    templates = Templates(settings.templates_dir)
    templates.check()
    contexts: dict[int, NotificationsContext] = {}

    def context_of(runtime: Runtime) -> NotificationsContext:
        """Built once per runtime (the routers and the workers share its outbox)."""
        if id(runtime) not in contexts:
            directory = runtime.view(DirectoryView)
            context = NotificationsContext(
                app=runtime.app,
                cipher=runtime.cipher,
                view=runtime.view(NotificationsView),
                templates=templates,
                settings=settings,
                access_log=runtime.access_log,
                directory=directory,
            )
            context.outbox = Outbox(
                app=runtime.app,
                view=context.view,
                composer=Composer(settings, templates, runtime.cipher, directory),
                mailer=SmtpMailer(
                    settings.smtp_host,
                    settings.smtp_port,
                    settings.smtp_sender,
                    settings.smtp_timeout_seconds,
                ),
                sms=sms_gateway(settings.sms_gateway_url),
                lock_dsn=settings.database_url(settings.database),
                poll_seconds=settings.outbox_poll_seconds,
                forgotten=runtime.view(ErasureLedgerView).is_forgotten,
            )
            reminders = ReminderCheck(
                runtime.app,
                directory,
                lead_days=settings.reminder_days,
                today=lambda: datetime.now(BERLIN).date(),
                interval_seconds=settings.reminder_check_seconds,
            )
            context.workers = [context.outbox.run, reminders.run]
            contexts[id(runtime)] = context
        return contexts[id(runtime)]

    def routers(runtime: Runtime, authenticate: Authenticator) -> Sequence[APIRouter]:
        return [build_router(context_of(runtime), authenticate)]

    def consumers(runtime: Runtime) -> Sequence[Consumer]:
        return build_consumers(
            runtime.app, runtime.view(DirectoryView), prefix=runtime.settings.service_name
        )

    def background(
        runtime: Runtime,
    ) -> Sequence[Callable[[asyncio.Event], Coroutine[Any, Any, None]]]:
        return context_of(runtime).workers

    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        base_seconds=settings.backoff_base_seconds,
        max_seconds=settings.backoff_max_seconds,
    )
    return ServiceSpec(
        name="notifications",
        title="Outreach notifications",
        description="Turns events into letters and messages, and sends each exactly once: "
        "announcement letters (PDF, per-district print batches), e-mails to case managers, "
        "providers and team leads.",
        application=lambda env, _cipher: Notifications(env, policy=policy),
        application_class=Notifications,
        mapper=to_integration_event,
        publishes=notifications_contracts.EVENTS,
        projections=[(NotificationsProjection, NotificationsView)],
        consumed_views=[(DirectoryView, "directory")],
        consumers=consumers,
        routers=routers,
        background=background,
        export=lambda runtime, subject, districts: subject_export(
            context_of(runtime), runtime.view(DirectoryView), subject, districts
        ),
        # An erased person: stored letters and directory entries become "[erased]"; whatever
        # is still queued about them (letters, and e-mails to staff too) is given up by the
        # outbox, which checks the erasure ledger before it composes anything.
        forget=forget_all(
            blank_tokens("notifications", "letter_token"),
            blank_tokens("directory_cases", "name_token", "address_token"),
        ),
    )


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    return create_service_app(build_spec(settings), settings)
