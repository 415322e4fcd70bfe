"""The routes of providers' coaches (``provider_coach``, under ``/provider``): the people of
their own provider only, and of them only the hand-over packet — the fields the person
consented to share. They report facts back (sessions held, household, partner referrals,
the end), never counselling content."""

from uuid import UUID

from fastapi import APIRouter

from coaching.api import (
    AddHouseholdMember,
    Authenticated,
    CoachingId,
    CoachingState,
    EndCoaching,
    HandoverPacket,
    ProviderCaseload,
    Reading,
    RecordPartnerReferral,
    RecordSession,
    _ctx,
    _Readers,
    _state,
)
from coaching.deps import CoachingContext, Context
from coaching.domain import Coach
from shared.errors import NotFoundError
from shared.http.auth import Principal, Role
from shared.http.read_your_writes import projected

"""The routes of a provider's coaches: their own provider's people, hand-over only."""
router = APIRouter(prefix="/provider", tags=["provider"])


def coach_of(context: CoachingContext, principal: Principal) -> Coach:
    principal.require(Role.PROVIDER_COACH)
    return context.app.coach_of_user(principal.user)


def own_coaching(context: CoachingContext, coaching_id: UUID, principal: Principal) -> None:
    """Another provider's coaching does not exist for this coach: 404."""
    coach = coach_of(context, principal)
    coaching = context.app.get_coaching(coaching_id)
    if coaching.provider_id != coach.provider_id or not principal.may_see(coaching.district):
        raise NotFoundError("coaching not found")


@router.get("/caseload", response_model=ProviderCaseload)
def caseload(context: Context, principal: Authenticated, reading: Reading) -> ProviderCaseload:
    """The provider's coaches with free places, and the hand-over packets of its people."""
    coach = coach_of(context, principal)
    row = context.registry.provider(coach.provider_id)
    if row is None:
        raise NotFoundError("provider not found")
    rows = [
        r
        for r in context.records.of_provider(coach.provider_id)
        if principal.may_see(r["district"])
    ]
    cases = context.directory.cases([r["case_id"] for r in rows])
    return ProviderCaseload(
        provider=_Readers(context).provider(row),
        coachings=[_Readers(context).packet(r, cases.get(r["case_id"]), reading) for r in rows],
    )


@router.get("/coachings/{coaching_id}", response_model=HandoverPacket)
def handover_packet(
    context: Context, coaching_id: CoachingId, principal: Authenticated, reading: Reading
) -> HandoverPacket:
    coach = coach_of(context, principal)
    row = projected(
        lambda: context.records.coaching(coaching_id),
        lambda: context.app.get_coaching(coaching_id),
    )
    if (
        row is None
        or row["provider_id"] != coach.provider_id
        or not principal.may_see(row["district"])
    ):
        raise NotFoundError("coaching not found")
    return _Readers(context).packet(row, context.directory.case(row["case_id"]), reading)


@router.post("/coachings/{coaching_id}/sessions", response_model=CoachingState)
def record_session(
    context: Context, coaching_id: CoachingId, body: RecordSession, principal: Authenticated
) -> CoachingState:
    own_coaching(context, coaching_id, principal)
    coaching = context.app.record_session(coaching_id, held_on=body.held_on, ctx=_ctx(principal))
    return _state(coaching)


@router.post("/coachings/{coaching_id}/household-members", response_model=CoachingState)
def add_household_member(
    context: Context, coaching_id: CoachingId, body: AddHouseholdMember, principal: Authenticated
) -> CoachingState:
    own_coaching(context, coaching_id, principal)
    coaching = context.app.add_household_member(
        coaching_id, name=body.name, relation=body.relation, ctx=_ctx(principal)
    )
    return _state(coaching)


@router.post("/coachings/{coaching_id}/partner-referrals", response_model=CoachingState)
def record_partner_referral(
    context: Context, coaching_id: CoachingId, body: RecordPartnerReferral, principal: Authenticated
) -> CoachingState:
    own_coaching(context, coaching_id, principal)
    coaching = context.app.record_partner_referral(
        coaching_id, partner=body.partner, referred_on=body.referred_on, ctx=_ctx(principal)
    )
    return _state(coaching)


@router.post("/coachings/{coaching_id}/end", response_model=CoachingState)
def end(
    context: Context, coaching_id: CoachingId, body: EndCoaching, principal: Authenticated
) -> CoachingState:
    own_coaching(context, coaching_id, principal)
    coaching = context.app.end(
        coaching_id, reason=body.reason, ended_on=body.ended_on, ctx=_ctx(principal)
    )
    return _state(coaching)
