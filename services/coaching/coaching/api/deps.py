"""The typed dependencies of the coaching routes: what they reach of the running service,
who may call them, and what is in the caller's scope.

The service's state is opened at start-up by ``coaching.main`` (``app.state.service``).
Jobcenter staff (team leads, case managers) act in the districts of their token; a
provider's coach (``provider_coach``) only on the coachings of their own provider. Another
district's or provider's record does not exist for the caller: 404, not 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from psycopg.rows import DictRow

from coaching.application import Coachings
from coaching.domain import Coach, KnownCase
from coaching.projections.case_directory import CaseDirectoryView
from coaching.projections.programmes import ProgrammeView
from coaching.projections.records import CoachingRecordView
from coaching.projections.registry import RegistryView
from shared.errors import NotFoundError
from shared.http.access_log import AccessLog, PersonalRead
from shared.http.auth import Principal, Role
from shared.http.deps import reading, require
from shared.http.read_your_writes import projected
from shared.http.state import app_state
from shared.privacy import PersonalDataCipher

STAFF = (Role.TEAM_LEAD, Role.CASE_MANAGER)


@dataclass(frozen=True)
class CoachingContext:
    """What the coaching routes reach."""

    app: Coachings
    cipher: PersonalDataCipher
    registry: RegistryView
    records: CoachingRecordView
    programmes: ProgrammeView
    directory: CaseDirectoryView
    extension_due_days: int
    access_log: AccessLog


def service_state(request: Request) -> CoachingContext:
    return app_state(request, "service", CoachingContext)


Context = Annotated[CoachingContext, Depends(service_state)]

Staff = Annotated[Principal, Depends(require(*STAFF))]
TeamLead = Annotated[Principal, Depends(require(Role.TEAM_LEAD))]
ProviderCoach = Annotated[Principal, Depends(require(Role.PROVIDER_COACH))]
StaffReading = Annotated[PersonalRead, reading(*STAFF)]
CoachReading = Annotated[PersonalRead, reading(Role.PROVIDER_COACH)]


class CaseNotKnownError(NotFoundError):
    code = "case_not_known"


# The scope checks below are called in the routes, after their input was checked: nothing
# is looked up for a bad request.


def known_case(context: CoachingContext, case_id: UUID, principal: Principal) -> KnownCase:
    """The case as the directory knows it, in the principal's districts (404 otherwise)."""
    row = context.directory.case(case_id)
    if row is None or not principal.may_see(row["district"]):
        raise CaseNotKnownError(f"case {case_id} is not known to the coaching service")
    return KnownCase(
        case_id=case_id,
        subject_id=row["subject_id"],
        district=row["district"],
        is_open=row["is_open"],
    )


def coaching_in_scope(context: CoachingContext, coaching_id: UUID, principal: Principal) -> None:
    coaching = context.app.get_coaching(coaching_id)
    principal.check_district(coaching.district, "coaching")


def programme_in_scope(context: CoachingContext, programme_id: UUID, principal: Principal) -> None:
    programme = context.app.get_programme(programme_id)
    principal.check_district(programme.district, "programme")


def provider_in_scope(context: CoachingContext, provider_id: UUID, principal: Principal) -> DictRow:
    """The provider's registry row, if it serves one of the principal's districts."""
    row = projected(
        lambda: context.registry.provider(provider_id),
        lambda: context.app.get_provider(provider_id),
    )
    if row is None or not any(principal.may_see(d) for d in row["districts"]):
        raise NotFoundError("provider not found")
    return row


def provider_to_change(context: CoachingContext, provider_id: UUID, principal: Principal) -> None:
    """A command's scope check reads the provider itself, not the (eventual) registry
    view: a provider registered a moment ago can be changed at once."""
    provider = context.app.get_provider(provider_id)
    if not any(principal.may_see(d) for d in provider.districts):
        raise NotFoundError("provider not found")


def coach_of(context: CoachingContext, principal: Principal) -> Coach:
    """The registered coach the token's user id names (403 ``not_a_registered_coach``)."""
    return context.app.coach_of_user(principal.user)


def own_coaching(context: CoachingContext, coaching_id: UUID, principal: Principal) -> None:
    """Another provider's coaching does not exist for this coach: 404."""
    coach = coach_of(context, principal)
    coaching = context.app.get_coaching(coaching_id)
    if coaching.provider_id != coach.provider_id or not principal.may_see(coaching.district):
        raise NotFoundError("coaching not found")
