"""Domain events of the coaching service -> integration events on ``outreach.coaching``.

A pure mapping: the relay calls :func:`to_integration_event` for every stored event.
Published: ``CoachingRequested``, ``CoachAssigned``, ``CoachingExtended``,
``CoachingEnded``, and of the registry a provider's outreach contract per district
(``ProviderOutreachContracted`` / ``ProviderOutreachContractEnded``), and of the group
programmes a person's enrolment and completion (``ProgrammeParticipantEnrolled``,
``ProgrammeParticipationCompleted``: the outreach figures count them). Internal (no other
service needs them, and the provider's work stays with the provider): the rest of the
registry of providers and coaches, the places on a coach's caseload,
sessions held, household members, partner referrals, a programme's plan and attendance.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from coaching.domain import Coaching, Programme, Provider
from shared.contracts import Payload
from shared.contracts.coaching import (
    CoachAssigned,
    CoachingEnded,
    CoachingExtended,
    CoachingRequested,
    ProgrammeParticipantEnrolled,
    ProgrammeParticipationCompleted,
    ProviderOutreachContracted,
    ProviderOutreachContractEnded,
)
from shared.messaging.relay import Outgoing, outgoing

PRODUCER = "coaching"


def to_integration_event(domain_event: Any) -> Outgoing | None:
    return outgoing(PRODUCER, domain_event, _payload(domain_event))


@singledispatch
def _payload(domain_event: Any) -> Payload | None:
    return None


@_payload.register
def _(e: Coaching.Requested) -> Payload:
    return CoachingRequested(
        coaching_id=e.originator_id,
        case_id=e.case_id,
        source=e.source,
        needs=e.needs,
        requested_on=e.requested_on,
        requested_by=e.meta["actor"],
    )


@_payload.register
def _(e: Coaching.CoachAssigned) -> Payload:
    return CoachAssigned(
        coaching_id=e.originator_id,
        case_id=e.case_id,
        provider_id=e.provider_id,
        provider_name=e.provider_name,
        coach=e.coach,
        starts_on=e.starts_on,
        ends_on=e.ends_on,
        assigned_by=e.meta["actor"],
    )


@_payload.register
def _(e: Coaching.Extended) -> Payload:
    return CoachingExtended(
        coaching_id=e.originator_id,
        case_id=e.case_id,
        ends_on=e.ends_on,
        reason=e.reason,
        extension_number=e.extension_number,
        extended_by=e.meta["actor"],
    )


@_payload.register
def _(e: Coaching.Ended) -> Payload:
    return CoachingEnded(
        coaching_id=e.originator_id,
        case_id=e.case_id,
        reason=e.reason,
        ended_on=e.ended_on,
        sessions_held=e.sessions_held,
        ended_by=e.meta["actor"],
    )


@_payload.register
def _(e: Provider.OutreachContracted) -> Payload:
    return ProviderOutreachContracted(
        provider_id=e.originator_id,
        provider_name=e.provider_name,
        contracted_by=e.meta["actor"],
    )


@_payload.register
def _(e: Provider.OutreachContractEnded) -> Payload:
    return ProviderOutreachContractEnded(provider_id=e.originator_id, ended_by=e.meta["actor"])


@_payload.register
def _(e: Programme.ParticipantEnrolled) -> Payload:
    return ProgrammeParticipantEnrolled(
        programme_id=e.originator_id,
        case_id=e.case_id,
        enrolled_on=e.enrolled_on,
        enrolled_by=e.meta["actor"],
    )


@_payload.register
def _(e: Programme.ParticipationCompleted) -> Payload | None:
    # A completion stored before completions named their participant concerns nobody in its
    # meta: it stays internal (an envelope needs the person's pseudonym).
    if e.meta.get("subject") is None:
        return None
    return ProgrammeParticipationCompleted(
        programme_id=e.originator_id,
        case_id=e.case_id,
        completed_on=e.completed_on,
        completed_by=e.meta["actor"],
    )
