"""The routes of providers' coaches (``provider_coach``, under ``/provider``): the people of
their own provider only, and of them only the hand-over packet — the fields the person
consented to share. They report facts back (sessions held, household, partner referrals,
the end), never counselling content."""

from __future__ import annotations

from fastapi import APIRouter

from coaching.api.deps import CoachReading, Context, ProviderCoach, coach_of, own_coaching
from coaching.api.presenters import coaching_state, packet_out, packets_out, provider_out
from coaching.api.schemas import (
    AddHouseholdMember,
    CoachingId,
    CoachingState,
    EndCoaching,
    HandoverPacket,
    ProviderCaseload,
    RecordPartnerReferral,
    RecordSession,
)
from shared.errors import NotFoundError
from shared.http.read_your_writes import projected

router = APIRouter(prefix="/provider", tags=["provider"])


@router.get("/caseload", response_model=ProviderCaseload)
def caseload(context: Context, read: CoachReading) -> ProviderCaseload:
    """The provider's coaches with free places, and the hand-over packets of its people."""
    principal = read.principal
    coach = coach_of(context, principal)
    row = context.registry.provider(coach.provider_id)
    if row is None:
        raise NotFoundError("provider not found")
    rows = context.records.of_provider(coach.provider_id)
    rows = [r for r in rows if principal.may_see(r["district"])]
    return ProviderCaseload(
        provider=provider_out(context, row), coachings=packets_out(context, rows, read)
    )


@router.get("/coachings/{coaching_id}", response_model=HandoverPacket)
def handover_packet(
    context: Context, coaching_id: CoachingId, read: CoachReading
) -> HandoverPacket:
    coach = coach_of(context, read.principal)
    row = projected(
        lambda: context.records.coaching(coaching_id),
        lambda: context.app.get_coaching(coaching_id),
    )
    if (
        row is None
        or row["provider_id"] != coach.provider_id
        or not read.principal.may_see(row["district"])
    ):
        raise NotFoundError("coaching not found")
    return packet_out(context, row, context.directory.case(row["case_id"]), read)


@router.post("/coachings/{coaching_id}/sessions", response_model=CoachingState)
def record_session(
    context: Context, coaching_id: CoachingId, body: RecordSession, principal: ProviderCoach
) -> CoachingState:
    own_coaching(context, coaching_id, principal)
    return coaching_state(context.app.record_session(coaching_id, held_on=body.held_on))


@router.post("/coachings/{coaching_id}/household-members", response_model=CoachingState)
def add_household_member(
    context: Context, coaching_id: CoachingId, body: AddHouseholdMember, principal: ProviderCoach
) -> CoachingState:
    own_coaching(context, coaching_id, principal)
    coaching = context.app.add_household_member(coaching_id, name=body.name, relation=body.relation)
    return coaching_state(coaching)


@router.post("/coachings/{coaching_id}/partner-referrals", response_model=CoachingState)
def record_partner_referral(
    context: Context,
    coaching_id: CoachingId,
    body: RecordPartnerReferral,
    principal: ProviderCoach,
) -> CoachingState:
    own_coaching(context, coaching_id, principal)
    coaching = context.app.record_partner_referral(
        coaching_id, partner=body.partner, referred_on=body.referred_on
    )
    return coaching_state(coaching)


@router.post("/coachings/{coaching_id}/end", response_model=CoachingState)
def end(
    context: Context, coaching_id: CoachingId, body: EndCoaching, principal: ProviderCoach
) -> CoachingState:
    own_coaching(context, coaching_id, principal)
    return coaching_state(context.app.end(coaching_id, reason=body.reason, ended_on=body.ended_on))
