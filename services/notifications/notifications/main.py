"""The composition root of the notifications service: what it is made of and what it runs.

uvicorn notifications.main:create_app --factory --port 8104
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from fastapi import FastAPI

from notifications import api
from notifications.application import Notifications, utc_now
from notifications.channels import SmtpMailer, sms_gateway
from notifications.consumers import build_consumers
from notifications.deps import NotificationsContext
from notifications.domain import RetryPolicy
from notifications.integration import to_integration_event
from notifications.outbox import BERLIN, Composer, Outbox, ReminderCheck
from notifications.projections import DirectoryView, NotificationsProjection, NotificationsView
from notifications.rendering import Templates
from notifications.settings import NotificationsSettings
from shared.contracts import notifications as notifications_contracts
from shared.contracts import topic_of
from shared.erasure import ErasureLedgerView, blank_tokens, forget_all
from shared.eventsourcing.projections import EventLog, Projected
from shared.runtime.app import service_app
from shared.runtime.infrastructure import Infrastructure, build_infrastructure
from shared.runtime.service import RelayTo, Service

LOG = EventLog(Notifications, Projected(NotificationsProjection, NotificationsView))
"""The notifications event log and its projection (run by the worker; ``/ops`` and the
rebuild and parked-events commands find it by name)."""


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    templates = Templates(settings.templates_dir)
    templates.check()
    infra = build_infrastructure("notifications", settings)
    return service_app(
        infra,
        title="Outreach notifications",
        description="Turns events into letters and messages, and sends each exactly once: "
        "announcement letters (PDF, per-district print batches), e-mails to case managers, "
        "providers and team leads.",
        open_service=partial(open_notifications, infra, settings, templates),
        routers=[api.router],
    )


def open_notifications(
    infra: Infrastructure,
    settings: NotificationsSettings,
    templates: Templates,
    clock: Callable[[], datetime] = utc_now,
) -> Service[NotificationsContext]:
    """The application and views of the notifications service, and what its process runs."""
    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        base_seconds=settings.backoff_base_seconds,
        max_seconds=settings.backoff_max_seconds,
    )
    notifications = Notifications(infra.env, policy=policy, clock=clock)
    view = infra.view(NotificationsView, NotificationsProjection.name)
    directory = infra.view(DirectoryView, "directory")
    outbox = Outbox(
        app=notifications,
        view=view,
        composer=Composer(settings, templates, infra.cipher, directory),
        mailer=SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_sender,
            settings.smtp_timeout_seconds,
        ),
        sms=sms_gateway(settings.sms_gateway_url),
        lock_dsn=infra.dsn,
        poll_seconds=settings.outbox_poll_seconds,
        forgotten=infra.view(ErasureLedgerView, "erasure_ledger").is_forgotten,
    )
    reminders = ReminderCheck(
        notifications,
        directory,
        lead_days=settings.reminder_days,
        today=lambda: datetime.now(BERLIN).date(),
        interval_seconds=settings.reminder_check_seconds,
    )
    context = NotificationsContext(
        notifications, infra.cipher, view, templates, settings, infra.access_log, directory, outbox
    )
    return Service(
        app=notifications,
        log=LOG,
        state=context,
        relays=[
            RelayTo(topic_of("notifications"), to_integration_event, notifications_contracts.EVENTS)
        ],
        consumers=build_consumers(notifications, directory, prefix=settings.service_name),
        background=[outbox.run, reminders.run],
        export=partial(api.subject_export, context),
        # An erased person: stored letters and directory entries become "[erased]"; whatever
        # is still queued about them (letters, and e-mails to staff too) is given up by the
        # outbox, which checks the erasure ledger before it composes anything.
        forget=forget_all(
            blank_tokens("notifications", "letter_token"),
            blank_tokens("directory_cases", "name_token", "address_token"),
        ),
    )
