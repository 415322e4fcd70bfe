"""The typed dependencies of the notifications routes: what they reach of the running
service, and who may call them.

The service's state is opened at start-up by ``notifications.main`` (``app.state.service``);
each alias here hands a route one part of it. Staff of a district see its notifications,
templates and staff directory; team leads and outreach workers print and read letters;
team leads retry notifications and enter the staff directory and the letterheads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from notifications.application import Notifications
from notifications.emails import Emails
from notifications.letterheads import Letterheads
from notifications.outbox import Outbox
from notifications.projections.directory import DirectoryView
from notifications.projections.staff_directory import StaffDirectoryView
from notifications.projections.status import NotificationsView
from notifications.rendering import Templates
from shared.http.access_log import PersonalRead
from shared.http.auth import Principal, Role
from shared.http.deps import reading, require
from shared.http.state import app_state
from shared.privacy import PersonalDataCipher

if TYPE_CHECKING:  # the synchronisation validates with the API's schemas
    from notifications.staff_sync import StaffSync

STAFF = (Role.TEAM_LEAD, Role.CASE_MANAGER, Role.OUTREACH_WORKER, Role.DATA_PROTECTION_OFFICER)
PRINT_STAFF = (Role.TEAM_LEAD, Role.OUTREACH_WORKER)


@dataclass(frozen=True)
class NotificationsState:
    """What the notifications routes reach."""

    app: Notifications
    cipher: PersonalDataCipher
    view: NotificationsView
    directory: DirectoryView
    staff: StaffDirectoryView
    letterheads: Letterheads
    templates: Templates
    emails: Emails
    outbox: Outbox
    staff_sync: StaffSync | None = None
    """The staff directory's synchronisation with the identity provider (``None``: off)."""


def service_state(request: Request) -> NotificationsState:
    return app_state(request, "service", NotificationsState)


State = Annotated[NotificationsState, Depends(service_state)]


def _app(state: State) -> Notifications:
    return state.app


def _view(state: State) -> NotificationsView:
    return state.view


def _staff(state: State) -> StaffDirectoryView:
    return state.staff


def _letterheads(state: State) -> Letterheads:
    return state.letterheads


def _templates(state: State) -> Templates:
    return state.templates


def _cipher(state: State) -> PersonalDataCipher:
    return state.cipher


AppDep = Annotated[Notifications, Depends(_app)]
StatusDep = Annotated[NotificationsView, Depends(_view)]
StaffDirectoryDep = Annotated[StaffDirectoryView, Depends(_staff)]
LetterheadsDep = Annotated[Letterheads, Depends(_letterheads)]
TemplatesDep = Annotated[Templates, Depends(_templates)]
CipherDep = Annotated[PersonalDataCipher, Depends(_cipher)]

Staff = Annotated[Principal, Depends(require(*STAFF))]
TeamLead = Annotated[Principal, Depends(require(Role.TEAM_LEAD))]
PrintStaff = Annotated[Principal, Depends(require(*PRINT_STAFF))]
PrintReading = Annotated[PersonalRead, reading(*PRINT_STAFF)]
"""Opening a stored letter or a print batch (``X-Purpose``, an access-log entry per person)."""
Operator = Annotated[Principal, Depends(require(Role.TEAM_LEAD, Role.DATA_PROTECTION_OFFICER))]
