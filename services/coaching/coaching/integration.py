"""Domain events of the coaching service -> integration events on ``outreach.coaching``.

A pure mapping: the relay calls :func:`to_integration_event` for every stored event.
Published: ``CoachingRequested``, ``CoachAssigned``, ``CoachingExtended``,
``CoachingEnded``, and of the registry a provider's outreach contract per district
(``ProviderOutreachContracted`` / ``ProviderOutreachContractEnded``). Internal (no other
service needs them, and the provider's work stays with the provider): the rest of the
registry of providers and coaches, the places on a coach's caseload,
sessions held, household members, partner referrals, group programmes.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from coaching.domain import Coaching, Provider
from shared.contracts import Payload
from shared.contracts.coaching import (
    CoachAssigned,
    CoachingEnded,
    CoachingExtended,
    CoachingRequested,
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
