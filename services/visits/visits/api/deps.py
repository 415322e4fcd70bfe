"""The typed dependencies of the visits routes: what they reach of the running service, and
who may call them.

The service's state is opened at start-up by ``visits.main`` (``app.state.service``); each
alias here hands a route one part of it. Who may act on visits: outreach workers, team
leads, and the outreach workers of a provider contracted to run the outreach
(``provider_outreach``), in the districts its contract covers only (:func:`admitted`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from shared.errors import ForbiddenError
from shared.http.access_log import AccessLog, PersonalRead
from shared.http.auth import Principal, Role
from shared.http.deps import CurrentUser, reading, require
from shared.http.state import app_state
from shared.privacy import PersonalDataCipher
from visits.application import Visits
from visits.domain import VisitRules
from visits.projections.board import PlanningBoardView
from visits.projections.calendar_feeds import CalendarFeedView
from visits.projections.outreach_contracts import OutreachContractsView
from visits.projections.records import VisitRecordView

VISIT_STAFF = (Role.OUTREACH_WORKER, Role.PROVIDER_OUTREACH, Role.TEAM_LEAD)


@dataclass(frozen=True)
class VisitsState:
    """What the visits routes reach."""

    visits: Visits
    board: PlanningBoardView
    records: VisitRecordView
    contracts: OutreachContractsView
    cipher: PersonalDataCipher
    rules: VisitRules
    feeds: CalendarFeedView


def service_state(request: Request) -> VisitsState:
    return app_state(request, "service", VisitsState)


State = Annotated[VisitsState, Depends(service_state)]


def _visits(state: State) -> Visits:
    return state.visits


def _board(state: State) -> PlanningBoardView:
    return state.board


def _records(state: State) -> VisitRecordView:
    return state.records


def _cipher(state: State) -> PersonalDataCipher:
    return state.cipher


def _rules(state: State) -> VisitRules:
    return state.rules


def _feeds(state: State) -> CalendarFeedView:
    return state.feeds


def _access_log(request: Request) -> AccessLog:
    return app_state(request, "access_log", AccessLog)


VisitsDep = Annotated[Visits, Depends(_visits)]
BoardDep = Annotated[PlanningBoardView, Depends(_board)]
RecordsDep = Annotated[VisitRecordView, Depends(_records)]
CipherDep = Annotated[PersonalDataCipher, Depends(_cipher)]
RulesDep = Annotated[VisitRules, Depends(_rules)]
FeedsDep = Annotated[CalendarFeedView, Depends(_feeds)]
AccessLogDep = Annotated[AccessLog, Depends(_access_log)]


class NoOutreachContractError(ForbiddenError):
    code = "no_outreach_contract"


async def admitted(request: Request, principal: CurrentUser, state: State) -> Principal:
    """The principal; a ``provider_outreach`` principal keeps only the districts its
    provider's outreach contract covers (403 ``no_outreach_contract`` with none). Ending the
    contract ends the access with the next request."""
    # On the event loop: only a provider's principal needs the (blocking) view query.
    if principal.role is not Role.PROVIDER_OUTREACH:
        return principal
    if principal.provider is None:
        raise NoOutreachContractError("a provider_outreach token names its provider")
    contracted = await run_in_threadpool(state.contracts.districts_of, principal.provider)
    covered = principal.districts & contracted
    if not covered:
        raise NoOutreachContractError(
            "the provider is not contracted to run the outreach in these districts",
            provider=str(principal.provider),
        )
    narrowed = principal.model_copy(update={"districts": frozenset(covered)})
    request.state.principal = narrowed
    return narrowed


Staff = Annotated[Principal, Depends(require(*VISIT_STAFF, principal=admitted))]
StaffReading = Annotated[PersonalRead, reading(*VISIT_STAFF, principal=admitted)]
HistoryReading = Annotated[
    PersonalRead, reading(*VISIT_STAFF, Role.CASE_MANAGER, principal=admitted)
]
"""A person's visit history is also the case manager's."""
FeedOwner = Annotated[Principal, Depends(require(Role.OUTREACH_WORKER, Role.TEAM_LEAD))]
"""Who keeps calendar links of their own visits. Not a provider's outreach worker: their
access ends with their provider's contract, which a link (fetched without a token) would
outlive."""
