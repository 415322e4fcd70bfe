"""Events published by the coaching service (topic ``outreach.coaching``).

Purpose limitation (DOMAIN.md, step 4): the provider carries the coaching, not the case
responsibility. What is published are facts — requested, assigned, extended, ended — never
counselling content, never a free-text note. Ending a coaching because the person declined
is an outcome like any other: no event carries a flag or a consequence for it (§16k SGB II:
refusing or dropping out cannot be sanctioned), and no subscriber may derive one.

Of the registry, only a provider's contract to run the outreach itself in a district is
published (the visits service lets that provider's outreach workers work the district's
planning board). These two events concern an organisation, not a person: their envelope's
``subject`` is the provider's id. The coaches, sessions held, household members, partner
referrals and the group programmes themselves (titles, dates, attendance) stay inside the
coaching service: no other service needs them. Of a programme, only that a person was
enrolled and that they completed it is published (the outreach figures count them): facts,
as for a coaching; the envelope's ``district`` is the district that runs the programme, its
``subject`` the participant.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import Field

from shared.contracts.envelope import Payload
from shared.contracts.visits import Need

COACHING_ID = Field(
    description="The coaching (one person, one request, from assignment to its end).",
    examples=["7a1c2e3f-4b5d-4e6f-8a9b-0c1d2e3f4a5b"],
)
CASE_ID = Field(
    description="The outreach case of the contacts service the coaching belongs to.",
    examples=["9b2e6a10-3c4d-4e5f-8a9b-0c1d2e3f4a5b"],
)


class CoachingSource(StrEnum):
    VISIT_REFERRAL = "visit_referral"
    """The person consented to a coaching referral during a home visit."""
    CASE_MANAGER = "case_manager"
    """A case manager asked for a coaching directly."""


class ExtensionReason(StrEnum):
    NEEDS_FURTHER_STABILISATION = "needs_further_stabilisation"
    HOUSEHOLD_SITUATION = "household_situation"
    AWAITING_PARTNER_SERVICE = "awaiting_partner_service"
    OTHER = "other"


class CoachingEndReason(StrEnum):
    STABILISED = "stabilised"
    HANDED_BACK_TO_CASE_MANAGER = "handed_back_to_case_manager"
    PERSON_DECLINED = "person_declined"
    """The offer is voluntary: declining it has no consequence (no sanction, no flag)."""
    MOVED = "moved"
    OTHER = "other"


class CoachingRequested(Payload):
    """A coaching was requested for a person (after a home visit, or by the case manager)."""

    event_type = "CoachingRequested"

    coaching_id: UUID = COACHING_ID
    case_id: UUID = CASE_ID
    source: CoachingSource = Field(examples=["visit_referral"])
    needs: list[Need] = Field(
        default_factory=list,
        description="Need categories the person consented to share with the coach.",
        examples=[["debt", "threatened_loss_of_housing"]],
    )
    requested_on: date = Field(examples=["2026-12-02"])
    requested_by: str = Field(
        description="User id of who asked (the outreach worker of the visit, or the case manager).",
        examples=["ow-yilmaz"],
    )


class CoachAssigned(Payload):
    """A coach of a provider carries the coaching from ``starts_on`` to ``ends_on``."""

    event_type = "CoachAssigned"

    coaching_id: UUID = COACHING_ID
    case_id: UUID = CASE_ID
    provider_id: UUID = Field(
        description="The provider (Träger).", examples=["1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a"]
    )
    provider_name: str = Field(examples=["Sculpture - Institut für Qualifizierung"])
    coach: str = Field(description="User id of the coach.", examples=["pc-weber"])
    starts_on: date = Field(examples=["2026-12-07"])
    ends_on: date = Field(
        description="End of the contract's initial term (e.g. four months).",
        examples=["2027-04-07"],
    )
    assigned_by: str = Field(examples=["tl-schmidt"])


class CoachingExtended(Payload):
    """A team lead extended the coaching, within the contract's maximum of extensions."""

    event_type = "CoachingExtended"

    coaching_id: UUID = COACHING_ID
    case_id: UUID = CASE_ID
    ends_on: date = Field(description="The new end date.", examples=["2027-06-07"])
    reason: ExtensionReason = Field(examples=["needs_further_stabilisation"])
    extension_number: int = Field(ge=1, description="The how-many-th extension.", examples=[1])
    extended_by: str = Field(examples=["tl-schmidt"])


class CoachingEnded(Payload):
    """The coaching ended. ``person_declined`` carries no consequence whatsoever."""

    event_type = "CoachingEnded"

    coaching_id: UUID = COACHING_ID
    case_id: UUID = CASE_ID
    reason: CoachingEndReason = Field(examples=["stabilised"])
    ended_on: date = Field(examples=["2027-03-30"])
    sessions_held: int = Field(ge=0, description="How many sessions took place.", examples=[9])
    ended_by: str = Field(examples=["pc-weber"])


PROVIDER_ID = Field(
    description="The provider (Träger) of the coaching service's registry; also the "
    "envelope's ``subject`` of the provider's own events.",
    examples=["3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a"],
)


class ProviderOutreachContracted(Payload):
    """A provider is contracted to run the outreach itself in a district (the envelope's
    ``district``): its outreach workers (role ``provider_outreach``) may work that
    district's planning board."""

    event_type = "ProviderOutreachContracted"

    provider_id: UUID = PROVIDER_ID
    provider_name: str = Field(examples=["Sculpture - Institut für Qualifizierung"])
    contracted_by: str = Field(examples=["tl-schmidt"])


class ProviderOutreachContractEnded(Payload):
    """The provider no longer runs the outreach in the envelope's district."""

    event_type = "ProviderOutreachContractEnded"

    provider_id: UUID = PROVIDER_ID
    ended_by: str = Field(examples=["tl-schmidt"])


PROGRAMME_ID = Field(
    description="The group programme of the Jobcenter (coaching service).",
    examples=["2e4c6a8b-1d3f-4a5b-9c7d-8e0f1a2b3c4d"],
)


class ProgrammeParticipantEnrolled(Payload):
    """A person was enrolled in a group programme the Jobcenter runs (the envelope's
    ``district``)."""

    event_type = "ProgrammeParticipantEnrolled"

    programme_id: UUID = PROGRAMME_ID
    case_id: UUID = CASE_ID
    enrolled_on: date = Field(examples=["2026-12-02"])
    enrolled_by: str = Field(examples=["tl-schmidt"])


class ProgrammeParticipationCompleted(Payload):
    """A participant completed the group programme."""

    event_type = "ProgrammeParticipationCompleted"

    programme_id: UUID = PROGRAMME_ID
    case_id: UUID = CASE_ID
    completed_on: date = Field(examples=["2027-01-20"])
    completed_by: str = Field(examples=["tl-schmidt"])


EVENTS: tuple[type[Payload], ...] = (
    CoachingRequested,
    CoachAssigned,
    CoachingExtended,
    CoachingEnded,
    ProviderOutreachContracted,
    ProviderOutreachContractEnded,
    ProgrammeParticipantEnrolled,
    ProgrammeParticipationCompleted,
)
