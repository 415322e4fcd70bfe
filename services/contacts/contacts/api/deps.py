"""The typed dependencies of the contacts routes: what they reach of the running service,
and who may call them.

The service's state is opened at start-up by ``contacts.main`` (``app.state.service``);
each alias here hands a route one part of it. Who may act: case managers and team leads
report, import and close cases; outreach workers also read them, record a restored contact
and update the contact details; the data protection officer holds, erases and registers the
feeds; team leads and management read the outreach figures (counts, no person's data) —
always in the districts on their token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from contacts.application import Contacts
from contacts.feeds import FeedView
from contacts.projections.detail import CaseDetailView
from contacts.projections.queue import CaseQueueView
from contacts.reporting.view import OutreachReportView
from shared.errors import NotFoundError
from shared.http.access_log import AccessLog, PersonalRead
from shared.http.auth import Principal, Role
from shared.http.deps import reading, require
from shared.http.state import app_state
from shared.keyring import Keyring
from shared.privacy import PersonalDataCipher

REPORTERS = (Role.CASE_MANAGER, Role.TEAM_LEAD)
CASE_STAFF = (Role.CASE_MANAGER, Role.TEAM_LEAD, Role.OUTREACH_WORKER)
FIGURES_READERS = (Role.TEAM_LEAD, Role.MANAGEMENT)


@dataclass(frozen=True)
class ContactsState:
    """What the contacts routes reach."""

    contacts: Contacts
    cipher: PersonalDataCipher
    queue: CaseQueueView
    detail: CaseDetailView
    feeds: FeedView
    report: OutreachReportView
    keyring: Keyring
    access_log: AccessLog
    break_glass_ttl: timedelta
    """How long a break-glass grant opens another district's case."""


def service_state(request: Request) -> ContactsState:
    return app_state(request, "service", ContactsState)


State = Annotated[ContactsState, Depends(service_state)]


def _contacts(state: State) -> Contacts:
    return state.contacts


def _detail(state: State) -> CaseDetailView:
    return state.detail


def _feeds(state: State) -> FeedView:
    return state.feeds


def _report(state: State) -> OutreachReportView:
    return state.report


ContactsDep = Annotated[Contacts, Depends(_contacts)]
ReportDep = Annotated[OutreachReportView, Depends(_report)]
DetailDep = Annotated[CaseDetailView, Depends(_detail)]
FeedsDep = Annotated[FeedView, Depends(_feeds)]

Reporter = Annotated[Principal, Depends(require(*REPORTERS))]
CaseStaff = Annotated[Principal, Depends(require(*CASE_STAFF))]
CaseReading = Annotated[PersonalRead, reading(*CASE_STAFF)]
"""A read of a case's personal data (the stated purpose is checked before the role)."""
Officer = Annotated[Principal, Depends(require(Role.DATA_PROTECTION_OFFICER))]
FiguresReader = Annotated[Principal, Depends(require(*FIGURES_READERS))]


def case_in_scope(contacts: Contacts, case_id: UUID, principal: Principal) -> None:
    """The case exists (404) and is of the principal's districts (403)."""
    case = contacts.get_case(case_id)
    principal.check_district(case.district, "case")


def district_of(detail: CaseDetailView, subject: UUID, principal: Principal) -> str:
    """The district of the person's cases the officer may see (404 otherwise): an
    officer acts on the persons of their districts, and on a person with cases in
    several districts as the officer of any of them."""
    visible = [d for d in detail.districts_of(subject) if principal.may_see(d)]
    if not visible:
        raise NotFoundError("subject not found")
    return visible[0]


def check_visible(
    detail: CaseDetailView, subject: UUID, recorded_in: str, principal: Principal, what: str
) -> None:
    """A record about the person (an erasure, a category erasure) is the officer's when
    it was recorded for one of their districts or the person has a case in one."""
    if principal.may_see(recorded_in):
        return
    if not any(principal.may_see(d) for d in detail.districts_of(subject)):
        raise NotFoundError(f"{what} not found")
