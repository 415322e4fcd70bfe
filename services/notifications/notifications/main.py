"""The composition root of the notifications service: what it is made of and what it runs.

uvicorn notifications.main:create_app --factory --port 8104
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from functools import partial

from fastapi import FastAPI

from notifications import api, messaging
from notifications.api.deps import NotificationsState
from notifications.api.presenters import subject_export
from notifications.application import Notifications, utc_now
from notifications.channels import SmtpMailer, sms_gateway
from notifications.emails import Emails
from notifications.integration import to_integration_event
from notifications.letterheads import Letterheads
from notifications.letters import Composer
from notifications.outbox import Outbox
from notifications.projections import FORGET
from notifications.projections.directory import DirectoryView
from notifications.projections.staff_directory import StaffDirectoryView
from notifications.projections.status import NotificationsProjection, NotificationsView
from notifications.reminders import ReminderCheck
from notifications.rendering import BERLIN, Templates
from notifications.settings import NotificationsSettings
from notifications.staff_sync import KeycloakStaff, StaffSync
from shared.contracts import notifications as notifications_contracts
from shared.contracts import topic_of
from shared.erasure import ErasureLedgerView
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
        routers=api.routers,
    )


def open_notifications(
    infra: Infrastructure,
    settings: NotificationsSettings,
    templates: Templates,
    clock: Callable[[], datetime] = utc_now,
) -> Service[NotificationsState]:
    """The application and views of the notifications service, and what its process runs."""
    notifications = Notifications(infra.env, policy=settings.retry_policy(), clock=clock)
    view = infra.view(NotificationsView, NotificationsProjection.name)
    directory = infra.view(DirectoryView, "directory")
    # Filled over HTTP, not tracked: under the directory's name it has no tracking table.
    staff = infra.view(StaffDirectoryView, "directory")
    letterheads = Letterheads(staff, settings.letterheads)
    emails = Emails(settings, templates, directory, letterheads)
    composer = Composer(templates, infra.cipher, directory, staff, letterheads, emails)
    outbox = open_outbox(infra, settings, notifications, view, composer)
    reminders = ReminderCheck(
        notifications,
        directory,
        lead_days=settings.reminder_days,
        today=lambda: datetime.now(BERLIN).date(),
        interval_seconds=settings.reminder_check_seconds,
    )
    sync = open_staff_sync(settings, staff, letterheads)
    state = NotificationsState(
        notifications, infra.cipher, view, directory, staff, letterheads, templates, emails, outbox
    )
    state = replace(state, staff_sync=sync)
    return Service(
        app=notifications,
        log=LOG,
        state=state,
        relays=[
            RelayTo(topic_of("notifications"), to_integration_event, notifications_contracts.EVENTS)
        ],
        consumers=messaging.consumers(notifications, directory, prefix=settings.service_name),
        background=[outbox.run, reminders.run]
        + ([sync.background(infra.dsn)] if sync is not None else []),
        forget=FORGET,
        export=partial(subject_export, state),
    )


def open_staff_sync(
    settings: NotificationsSettings, staff: StaffDirectoryView, letterheads: Letterheads
) -> StaffSync | None:
    """The staff directory's synchronisation with the identity provider; ``None`` where none
    is configured (the directory is kept over ``PUT /staff``)."""
    if not settings.directory_sync:
        return None
    return StaffSync(KeycloakStaff(settings), staff, letterheads, settings)


def open_outbox(
    infra: Infrastructure,
    settings: NotificationsSettings,
    notifications: Notifications,
    view: NotificationsView,
    composer: Composer,
) -> Outbox:
    """The outbox, sending over the configured channels; nothing about an erased person
    (the erasure ledger) is sent any more."""
    return Outbox(
        app=notifications,
        view=view,
        composer=composer,
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
