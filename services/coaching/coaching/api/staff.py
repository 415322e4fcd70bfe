"""The routes of the Jobcenter's staff (team leads, case managers): the registry of
providers and coaches, and the coachings of their districts. Each route: typed input, the
caller's scope, one call of the application or a view, the answer through the presenters."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from fastapi import APIRouter, status

from coaching.api.deps import (
    CoachingContext,
    Context,
    Staff,
    StaffReading,
    TeamLead,
    coaching_in_scope,
    known_case,
    provider_in_scope,
    provider_to_change,
)
from coaching.api.presenters import (
    coaching_out,
    coaching_state,
    coachings_out,
    new_coach_out,
    packets_out,
    provider_out,
)
from coaching.api.schemas import (
    AddHouseholdMember,
    AssignCoach,
    CaseId,
    CoachingId,
    CoachingList,
    CoachingOut,
    CoachingState,
    CoachOut,
    Created,
    District,
    DistrictInPath,
    EndCoaching,
    ExtendCoaching,
    History,
    OutreachContract,
    ProviderCaseload,
    ProviderId,
    ProviderOut,
    RecordPartnerReferral,
    RegisterCoach,
    RegisterProvider,
    RequestCoaching,
    StatusFilter,
)
from shared.errors import NotFoundError
from shared.http.auth import Principal, Role
from shared.http.read_your_writes import projected

router = APIRouter(tags=["coaching"])


# the registry


@router.post("/providers", status_code=status.HTTP_201_CREATED, response_model=Created)
def register_provider(context: Context, body: RegisterProvider, principal: TeamLead) -> Created:
    for district in body.districts:
        principal.check_district(district, "district")
    provider_id = context.app.register_provider(
        name=body.name, districts=body.districts, terms=body.terms()
    )
    return Created(id=provider_id)


@router.get("/providers", response_model=list[ProviderOut])
def providers(context: Context, principal: Staff, district: District) -> list[ProviderOut]:
    principal.check_district(district, "district")
    return [provider_out(context, row) for row in context.registry.providers(district)]


@router.get("/providers/{provider_id}/caseload", response_model=ProviderCaseload)
def provider_caseload(
    context: Context, provider_id: ProviderId, read: StaffReading
) -> ProviderCaseload:
    """The provider's coaches with their caseload and free places, and its coachings."""
    principal = read.principal
    row = provider_in_scope(context, provider_id, principal)
    rows = context.records.of_provider(provider_id, "active")
    rows = [r for r in rows if principal.may_see(r["district"])]
    return ProviderCaseload(
        provider=provider_out(context, row), coachings=packets_out(context, rows, read)
    )


@router.put("/providers/{provider_id}/outreach/{district}", response_model=OutreachContract)
def contract_outreach(
    context: Context, provider_id: ProviderId, district: DistrictInPath, principal: TeamLead
) -> OutreachContract:
    """Contract the provider to run the outreach in one of the districts it serves (team
    lead of that district). Its outreach workers (``provider_outreach`` tokens naming the
    provider) may then work the district's planning board in the visits service. 409
    ``provider_does_not_serve_district`` for a district outside the provider's contract.
    Idempotent."""
    return _set_outreach(context, provider_id, district, principal, contracted=True)


@router.delete("/providers/{provider_id}/outreach/{district}", response_model=OutreachContract)
def end_outreach_contract(
    context: Context, provider_id: ProviderId, district: DistrictInPath, principal: TeamLead
) -> OutreachContract:
    """End the provider's outreach in the district; its outreach workers lose access to
    the district's planning board. Idempotent."""
    return _set_outreach(context, provider_id, district, principal, contracted=False)


def _set_outreach(
    context: CoachingContext,
    provider_id: UUID,
    district: str,
    principal: Principal,
    *,
    contracted: bool,
) -> OutreachContract:
    provider_to_change(context, provider_id, principal)
    principal.check_district(district, "district")
    provider = context.app.set_outreach_contract(provider_id, district, contracted=contracted)
    return OutreachContract(
        provider_id=provider.id, outreach_districts=list(provider.outreach_districts)
    )


@router.post(
    "/providers/{provider_id}/coaches", status_code=status.HTTP_201_CREATED, response_model=CoachOut
)
def register_coach(
    context: Context, provider_id: ProviderId, body: RegisterCoach, principal: TeamLead
) -> CoachOut:
    provider_to_change(context, provider_id, principal)
    coach = context.app.register_coach(
        provider_id,
        user=body.coach,
        display_name=body.display_name,
        max_caseload=body.max_caseload,
        emergency_line=body.emergency_line,
    )
    return new_coach_out(coach)


# coachings


@router.post("/coachings", status_code=status.HTTP_201_CREATED, response_model=Created)
def request_coaching(context: Context, body: RequestCoaching, principal: Staff) -> Created:
    case = known_case(context, body.case_id, principal)
    coaching_id = context.app.request_coaching(
        case, needs=body.needs, shared_fields=body.shared_fields
    )
    return Created(id=coaching_id)


@router.get("/coachings", response_model=CoachingList)
def coachings(
    context: Context, read: StaffReading, district: District, status_filter: StatusFilter = None
) -> CoachingList:
    read.principal.check_district(district, "district")
    rows = context.records.in_district(district, status_filter)
    return CoachingList(district=district, coachings=coachings_out(context, rows, read))


@router.get("/coachings/extension-due", response_model=CoachingList)
def extension_due(context: Context, read: StaffReading, district: District) -> CoachingList:
    """Active coachings ending within the configured days (14): decide on an extension."""
    read.principal.check_district(district, "district")
    rows = context.records.ending_within(district, dt.date.today(), context.extension_due_days)
    return CoachingList(district=district, coachings=coachings_out(context, rows, read))


# Only a UUID names a coaching: ``/coachings/extension-due`` is its own route.
@router.get("/coachings/{coaching_id:uuid}", response_model=CoachingOut)
def coaching_detail(context: Context, coaching_id: CoachingId, read: StaffReading) -> CoachingOut:
    row = projected(
        lambda: context.records.coaching(coaching_id),
        lambda: context.app.get_coaching(coaching_id),
    )
    if row is None or not read.principal.may_see(row["district"]):
        raise NotFoundError("coaching not found")
    return coaching_out(context, row, context.directory.case(row["case_id"]), read)


@router.get("/cases/{case_id}/coachings", response_model=History)
def coaching_history(context: Context, case_id: CaseId, read: StaffReading) -> History:
    """Every coaching of the person of this case (also from earlier cases)."""
    principal = read.principal
    case = known_case(context, case_id, principal)
    rows = [r for r in context.records.history(case.subject_id) if principal.may_see(r["district"])]
    return History(case_id=case_id, coachings=coachings_out(context, rows, read))


@router.post("/coachings/{coaching_id}/assign", response_model=CoachingState)
def assign_coach(
    context: Context, coaching_id: CoachingId, body: AssignCoach, principal: Staff
) -> CoachingState:
    coaching_in_scope(context, coaching_id, principal)
    coaching = context.app.assign_coach(
        coaching_id, provider_id=body.provider_id, coach_user=body.coach, starts_on=body.starts_on
    )
    return coaching_state(coaching)


@router.post("/coachings/{coaching_id}/extend", response_model=CoachingState)
def extend(
    context: Context, coaching_id: CoachingId, body: ExtendCoaching, principal: Staff
) -> CoachingState:
    coaching_in_scope(context, coaching_id, principal)
    coaching = context.app.extend(
        coaching_id,
        reason=body.reason,
        until=body.until,
        by_team_lead=principal.role is Role.TEAM_LEAD,
    )
    return coaching_state(coaching)


@router.post("/coachings/{coaching_id}/end", response_model=CoachingState)
def end(
    context: Context, coaching_id: CoachingId, body: EndCoaching, principal: Staff
) -> CoachingState:
    coaching_in_scope(context, coaching_id, principal)
    coaching = context.app.end(coaching_id, reason=body.reason, ended_on=body.ended_on)
    return coaching_state(coaching)


@router.post("/coachings/{coaching_id}/household-members", response_model=CoachingState)
def add_household_member(
    context: Context, coaching_id: CoachingId, body: AddHouseholdMember, principal: Staff
) -> CoachingState:
    coaching_in_scope(context, coaching_id, principal)
    coaching = context.app.add_household_member(coaching_id, name=body.name, relation=body.relation)
    return coaching_state(coaching)


@router.post("/coachings/{coaching_id}/partner-referrals", response_model=CoachingState)
def record_partner_referral(
    context: Context, coaching_id: CoachingId, body: RecordPartnerReferral, principal: Staff
) -> CoachingState:
    coaching_in_scope(context, coaching_id, principal)
    coaching = context.app.record_partner_referral(
        coaching_id, partner=body.partner, referred_on=body.referred_on
    )
    return coaching_state(coaching)
