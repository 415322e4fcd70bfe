"""The request and response models of the coaching API, and its typed parameters."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, get_args
from uuid import UUID

from fastapi import Path, Query
from pydantic import BaseModel, Field

from coaching.domain import (
    EXTENSION_MONTHS,
    HANDOVER_FIELDS,
    INITIAL_TERM_MONTHS,
    MAX_EXTENSIONS,
    ContractTerms,
    HouseholdRelation,
    PartnerKind,
    TermRule,
)
from shared.contracts.coaching import CoachingEndReason, ExtensionReason
from shared.contracts.visits import Need
from shared.http.bodies import StrictModel
from shared.http.inputs import Bool, Integer, IsoDate, Key, Line, Text, UniqueItems, Uuid

HandoverField = Literal["name", "address", "phone", "needs"]
assert set(get_args(HandoverField)) == set(HANDOVER_FIELDS)

District = Annotated[Key, Query(examples=["kassel"])]
DistrictInPath = Annotated[Key, Path(examples=["kassel"])]
ProviderId = Annotated[Uuid, Path()]
CoachingId = Annotated[Uuid, Path()]
CaseId = Annotated[Uuid, Path()]
ProgrammeId = Annotated[Uuid, Path()]
Today = Annotated[IsoDate | None, Field(description="Today if not given.")]


# --- requests -----------------------------------------------------------------------------


def term(rule: TermRule) -> Integer:
    """The range of a contract figure, as the domain defines it."""
    return Integer(rule.least, rule.most)


class RegisterProvider(StrictModel):
    name: Annotated[Line, Field(examples=["Sculpture - Institut für Qualifizierung"])]
    districts: Annotated[
        list[Key], UniqueItems(), Field(min_length=1, max_length=20, examples=[["kassel"]])
    ]
    initial_term_months: Annotated[int, term(INITIAL_TERM_MONTHS)] = INITIAL_TERM_MONTHS.default
    extension_months: Annotated[int, term(EXTENSION_MONTHS)] = EXTENSION_MONTHS.default
    max_extensions: Annotated[int, term(MAX_EXTENSIONS)] = MAX_EXTENSIONS.default

    def terms(self) -> ContractTerms:
        return ContractTerms(
            initial_months=self.initial_term_months,
            extension_months=self.extension_months,
            max_extensions=self.max_extensions,
        )


class RegisterCoach(StrictModel):
    coach: Annotated[
        Key,
        Field(description="User id of the coach's provider_coach token.", examples=["pc-weber"]),
    ]
    display_name: Annotated[Line, Field(examples=["Jana Weber"])]
    max_caseload: Annotated[int, Integer(1, 100), Field(examples=[12])]
    emergency_line: Annotated[
        str,
        Text(50),
        Field(
            description="The provider's emergency contact line for this coach.",
            examples=["0561 7654321"],
        ),
    ]


class RequestCoaching(StrictModel):
    case_id: Uuid
    needs: Annotated[list[Need], UniqueItems(), Field(max_length=len(Need))] = []
    shared_fields: Annotated[
        list[HandoverField],
        UniqueItems(),
        Field(
            max_length=len(HANDOVER_FIELDS),
            description="What the person consented to share with the provider.",
            examples=[["name", "phone", "needs"]],
        ),
    ]


class AssignCoach(StrictModel):
    provider_id: Uuid
    coach: Annotated[Key, Field(examples=["pc-weber"])]
    starts_on: Today = None


class ExtendCoaching(StrictModel):
    reason: ExtensionReason
    until: Annotated[
        IsoDate | None,
        Field(description="The new end; one extension term (contract) if not given."),
    ] = None


class EndCoaching(StrictModel):
    reason: CoachingEndReason
    ended_on: Today = None


class RecordSession(StrictModel):
    held_on: Today = None


class AddHouseholdMember(StrictModel):
    name: Annotated[Line, Field(examples=["Mia Beispiel"])]
    relation: HouseholdRelation


class RecordPartnerReferral(StrictModel):
    partner: PartnerKind
    referred_on: Today = None


class PlanProgramme(StrictModel):
    district: Annotated[Key, Field(examples=["kreis-borken"])]
    local_office: Annotated[str, Text(100), Field(examples=["bocholt"])]
    title: Annotated[Line, Field(examples=["Lebensgeschichten schreiben"])]
    target_group: Annotated[Line, Field(examples=["Alleinerziehende mit Berufserfahrung"])]
    dates: list[IsoDate] = Field(min_length=1, max_length=100)
    capacity: Annotated[int, Integer(1, 100), Field(examples=[12])]
    open_to_neighbouring: Annotated[
        Bool, Field(description="Open to people from the neighbouring municipalities.")
    ] = False
    mobile: Annotated[Bool, Field(description="Run as a mobile variant by the Kreis.")] = False


class Enrol(StrictModel):
    case_id: Uuid


class RecordAttendance(StrictModel):
    case_id: Uuid
    session_on: IsoDate
    present: Bool


class CompleteParticipation(StrictModel):
    completed_on: Today = None


# --- responses ----------------------------------------------------------------------------


class Created(BaseModel):
    id: UUID


class CoachOut(BaseModel):
    coach: str
    display_name: str
    max_caseload: int
    caseload: int
    free_places: int
    emergency_line: str


class ProviderOut(BaseModel):
    provider_id: UUID
    name: str
    districts: list[str]
    initial_term_months: int
    extension_months: int
    max_extensions: int
    outreach_districts: list[str] = Field(
        description="Districts where the provider is contracted to run the outreach itself."
    )
    coaches: list[CoachOut]


class CoachingState(BaseModel):
    coaching_id: UUID
    status: str
    coach: str | None
    starts_on: dt.date | None
    ends_on: dt.date | None
    extensions: int
    sessions_held: int


class OutreachContract(BaseModel):
    provider_id: UUID
    outreach_districts: list[str]


class HouseholdMember(BaseModel):
    name: str
    relation: str


class PartnerReferral(BaseModel):
    partner: str
    referred_on: dt.date


class CoachingOut(BaseModel):
    coaching_id: UUID
    case_id: UUID
    district: str
    name: str | None
    source: str
    status: str
    needs: list[str]
    shared_fields: list[str]
    requested_on: dt.date
    requested_by: str
    provider_id: UUID | None
    provider_name: str | None
    coach: str | None
    starts_on: dt.date | None
    ends_on: dt.date | None
    extensions: int
    sessions_held: int
    last_session_on: dt.date | None
    household: list[HouseholdMember]
    partner_referrals: list[PartnerReferral]
    ended_reason: str | None
    ended_on: dt.date | None


class CoachingList(BaseModel):
    district: str
    coachings: list[CoachingOut]


class History(BaseModel):
    case_id: UUID
    coachings: list[CoachingOut]


class SharedContact(BaseModel):
    """Only what the person consented to share; a field not shared is absent (null)."""

    name: str | None = None
    address: str | None = None
    phone: str | None = None


class HandoverPacket(BaseModel):
    coaching_id: UUID
    district: str
    status: str
    coach: str | None
    starts_on: dt.date | None
    ends_on: dt.date | None
    extensions: int
    sessions_held: int
    last_session_on: dt.date | None
    shared_fields: list[str]
    person: SharedContact
    needs: list[str]
    household: list[HouseholdMember]
    partner_referrals: list[PartnerReferral]
    ended_reason: str | None
    ended_on: dt.date | None


class ProviderCaseload(BaseModel):
    provider: ProviderOut
    coachings: list[HandoverPacket]


class ProgrammeOut(BaseModel):
    programme_id: UUID
    district: str
    local_office: str
    title: str
    target_group: str
    dates: list[dt.date]
    capacity: int
    enrolled: int
    free_places: int
    open_to_neighbouring: bool
    mobile: bool


class Attendance(BaseModel):
    session_on: dt.date
    present: bool


class Participant(BaseModel):
    case_id: UUID
    name: str | None
    participant_district: str
    enrolled_on: dt.date
    completed_on: dt.date | None
    attendance: list[Attendance]


class Roster(BaseModel):
    programme: ProgrammeOut
    participants: list[Participant]


class ProgrammeState(BaseModel):
    programme_id: UUID
    enrolled: int
    free_places: int


StatusFilter = Annotated[Literal["requested", "active", "ended"] | None, Query(alias="status")]
