"""HTTP routes of the coaching service: typed models in and out, no business logic.

Two audiences, two routers:

- Jobcenter staff (team leads, case managers): the registry, coachings and programmes of
  their districts.
- Providers' coaches (``provider_coach``, under ``/provider``): the people of their own
  provider only, and of them only the hand-over packet — the fields the person consented to
  share. They report facts back (sessions held, household, partner referrals, the end),
  never counselling content.
"""

import datetime as dt
from typing import Annotated, Literal, get_args
from uuid import UUID

from fastapi import APIRouter, Path, Query, status
from psycopg.rows import DictRow
from pydantic import BaseModel, Field

from coaching.application import KnownCase
from coaching.deps import CoachingContext, Context
from coaching.domain import (
    HANDOVER_FIELDS,
    Coach,
    Coaching,
    ContractTerms,
    HouseholdRelation,
    PartnerKind,
)
from shared.contracts.coaching import CoachingEndReason, CoachingSource, ExtensionReason
from shared.contracts.visits import Need
from shared.dpo import opened_rows
from shared.errors import ConflictError, NotFoundError
from shared.eventsourcing.meta import CommandContext
from shared.http.access_log import PersonalRead
from shared.http.auth import Principal, Role
from shared.http.deps import CurrentUser, reading
from shared.http.inputs import (
    Bool,
    Integer,
    IsoDate,
    Key,
    Line,
    StrictModel,
    Text,
    UniqueItems,
    Uuid,
)
from shared.http.read_your_writes import projected
from shared.runtime.service import ExportPart

STAFF = (Role.TEAM_LEAD, Role.CASE_MANAGER)

HandoverField = Literal["name", "address", "phone", "needs"]
assert set(get_args(HandoverField)) == set(HANDOVER_FIELDS)


Authenticated = CurrentUser
Reading = Annotated[PersonalRead, reading()]


class CaseNotKnownError(NotFoundError):
    code = "case_not_known"


class CaseClosedError(ConflictError):
    code = "case_closed"


District = Annotated[Key, Query(examples=["kassel"])]
DistrictInPath = Annotated[Key, Path(examples=["kassel"])]
ProviderId = Annotated[Uuid, Path()]
CoachingId = Annotated[Uuid, Path()]
CaseId = Annotated[Uuid, Path()]
ProgrammeId = Annotated[Uuid, Path()]
Today = Annotated[IsoDate | None, Field(description="Today if not given.")]


# --- requests -----------------------------------------------------------------------------


class RegisterProvider(StrictModel):
    name: Annotated[Line, Field(examples=["Sculpture - Institut für Qualifizierung"])]
    districts: Annotated[
        list[Key], UniqueItems(), Field(min_length=1, max_length=20, examples=[["kassel"]])
    ]
    initial_term_months: Annotated[int, Integer(1, 24)] = ContractTerms().initial_months
    extension_months: Annotated[int, Integer(1, 12)] = ContractTerms().extension_months
    max_extensions: Annotated[int, Integer(0, 6)] = ContractTerms().max_extensions


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


def _state(coaching: Coaching) -> CoachingState:
    return CoachingState(
        coaching_id=coaching.id,
        status=coaching.status.value,
        coach=coaching.coach,
        starts_on=coaching.starts_on,
        ends_on=coaching.ends_on,
        extensions=coaching.extensions,
        sessions_held=coaching.sessions_held,
    )


def _ctx(principal: Principal) -> CommandContext:
    return CommandContext(actor=principal.user, role=principal.role.value)


class _Readers:
    """Turns view rows into responses, opening sealed fields for the reader."""

    def __init__(self, context: CoachingContext) -> None:
        self.context = context

    def provider(self, row: DictRow) -> ProviderOut:
        coaches = self.context.registry.coaches(row["provider_id"])
        return ProviderOut(
            provider_id=row["provider_id"],
            name=row["name"],
            districts=list(row["districts"]),
            initial_term_months=row["initial_months"],
            extension_months=row["extension_months"],
            max_extensions=row["max_extensions"],
            outreach_districts=sorted(row["outreach_districts"]),
            coaches=[
                CoachOut(
                    coach=c["coach"],
                    display_name=c["display_name"],
                    max_caseload=c["max_caseload"],
                    caseload=c["caseload"],
                    free_places=c["free_places"],
                    emergency_line=c["emergency_line"],
                )
                for c in coaches
            ],
        )

    def household(self, row: DictRow) -> list[HouseholdMember]:
        open_ = self.context.cipher.open
        return [
            HouseholdMember(name=open_(m["name_token"]), relation=m["relation"])
            for m in row["household"]
        ]

    def coaching(self, row: DictRow, case: DictRow | None, read: PersonalRead) -> CoachingOut:
        read.opened(
            row["subject_id"],
            ["coaching", "household", *(["name"] if case else [])],
            district=row["district"],
            resource=f"coaching:{row['coaching_id']}",
        )
        return CoachingOut(
            coaching_id=row["coaching_id"],
            case_id=row["case_id"],
            district=row["district"],
            name=self.context.cipher.open(case["name_token"]) if case else None,
            source=row["source"],
            status=row["status"],
            needs=list(row["needs"]),
            shared_fields=list(row["shared_fields"]),
            requested_on=row["requested_on"],
            requested_by=row["requested_by"],
            provider_id=row["provider_id"],
            provider_name=row["provider_name"],
            coach=row["coach"],
            starts_on=row["starts_on"],
            ends_on=row["ends_on"],
            extensions=row["extensions"],
            sessions_held=row["sessions_held"],
            last_session_on=row["last_session_on"],
            household=self.household(row),
            partner_referrals=[PartnerReferral(**r) for r in row["partner_referrals"]],
            ended_reason=row["ended_reason"],
            ended_on=row["ended_on"],
        )

    def coachings(self, rows: list[DictRow], read: PersonalRead) -> list[CoachingOut]:
        cases = self.context.directory.cases([row["case_id"] for row in rows])
        return [self.coaching(row, cases.get(row["case_id"]), read) for row in rows]

    def packet(self, row: DictRow, case: DictRow | None, read: PersonalRead) -> HandoverPacket:
        """The allow-listed hand-over: contact data and needs only as far as consented."""
        shared = set(row["shared_fields"])
        read.opened(
            row["subject_id"],
            ["coaching", "household", *(f for f in shared if case is not None or f == "needs")],
            district=row["district"],
            resource=f"coaching:{row['coaching_id']}",
        )
        open_ = self.context.cipher.open_optional
        person = SharedContact()
        if case is not None:
            person = SharedContact(
                name=open_(case["name_token"]) if "name" in shared else None,
                address=open_(case["address_token"]) if "address" in shared else None,
                phone=open_(case["phone_token"]) if "phone" in shared else None,
            )
        return HandoverPacket(
            coaching_id=row["coaching_id"],
            district=row["district"],
            status=row["status"],
            coach=row["coach"],
            starts_on=row["starts_on"],
            ends_on=row["ends_on"],
            extensions=row["extensions"],
            sessions_held=row["sessions_held"],
            last_session_on=row["last_session_on"],
            shared_fields=sorted(shared),
            person=person,
            needs=list(row["needs"]) if "needs" in shared else [],
            household=self.household(row),
            partner_referrals=[PartnerReferral(**r) for r in row["partner_referrals"]],
            ended_reason=row["ended_reason"],
            ended_on=row["ended_on"],
        )

    def programme(self, row: DictRow) -> ProgrammeOut:
        return ProgrammeOut(
            programme_id=row["programme_id"],
            district=row["district"],
            local_office=row["local_office"],
            title=row["title"],
            target_group=row["target_group"],
            dates=[dt.date.fromisoformat(d) for d in row["dates"]],
            capacity=row["capacity"],
            enrolled=row["enrolled"],
            free_places=max(row["capacity"] - row["enrolled"], 0),
            open_to_neighbouring=row["open_to_neighbouring"],
            mobile=row["mobile"],
        )


def subject_export(
    context: CoachingContext, subject: UUID, districts: frozenset[str]
) -> ExportPart:
    """The coaching part of a person's Art. 15 export, of ``districts``: their cases as
    known here, coachings (with household and partner referrals), programme participations
    (of programmes of those districts), and the providers their data was handed over to
    (with the fields they consented to share)."""
    scope = (subject, sorted(districts))
    cases = context.directory.query(
        "SELECT * FROM case_directory WHERE subject_id = %s AND district = ANY(%s)", scope
    )
    coachings = [row for row in context.records.history(subject) if row["district"] in districts]
    participations = context.programmes.query(
        "SELECT p.*, g.title, g.district AS programme_district FROM programme_participants p "
        "JOIN programmes g USING (programme_id) WHERE p.subject_id = %s "
        "AND g.district = ANY(%s) ORDER BY p.enrolled_on",
        scope,
    )
    recipients = [
        {
            "recipient": row["provider_name"],
            "kind": "coaching provider (hand-over packet)",
            "provider_id": str(row["provider_id"]),
            "coach": row["coach"],
            "fields": sorted(row["shared_fields"]),
            "since": row["starts_on"].isoformat() if row["starts_on"] else None,
            "coaching_id": str(row["coaching_id"]),
        }
        for row in coachings
        if row["provider_id"] is not None
    ]
    found = {row["district"] for row in (*cases, *coachings)}
    found |= {row["programme_district"] for row in participations}
    return {
        "districts": sorted(found),
        "personal_data": {
            "cases": opened_rows(cases, subject, context.cipher),
            "coachings": opened_rows(coachings, subject, context.cipher),
            "programme_participations": opened_rows(participations, subject, context.cipher),
        },
        "recipients": recipients,
    }


"""The routes of Jobcenter staff (team leads and case managers)."""
router = APIRouter(tags=["coaching"])


def known_case(context: CoachingContext, case_id: UUID, principal: Principal) -> KnownCase:
    row = context.directory.case(case_id)
    if row is None or not principal.may_see(row["district"]):
        raise CaseNotKnownError(f"case {case_id} is not known to the coaching service")
    return KnownCase(case_id=case_id, subject_id=row["subject_id"], district=row["district"])


def coaching_in_scope(
    context: CoachingContext, coaching_id: UUID, principal: Principal
) -> Coaching:
    coaching = context.app.get_coaching(coaching_id)
    principal.check_district(coaching.district, "coaching")
    return coaching


def provider_in_scope(context: CoachingContext, provider_id: UUID, principal: Principal) -> DictRow:
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


# registry


@router.post("/providers", status_code=status.HTTP_201_CREATED, response_model=Created)
def register_provider(
    context: Context, body: RegisterProvider, principal: Authenticated
) -> Created:
    principal.require(Role.TEAM_LEAD)
    for district in body.districts:
        principal.check_district(district, "district")
    provider_id = context.app.register_provider(
        name=body.name,
        districts=body.districts,
        terms=ContractTerms(
            initial_months=body.initial_term_months,
            extension_months=body.extension_months,
            max_extensions=body.max_extensions,
        ),
        ctx=_ctx(principal),
    )
    return Created(id=provider_id)


@router.get("/providers", response_model=list[ProviderOut])
def providers(context: Context, principal: Authenticated, district: District) -> list[ProviderOut]:
    principal.require(*STAFF)
    principal.check_district(district, "district")
    return [_Readers(context).provider(row) for row in context.registry.providers(district)]


@router.get("/providers/{provider_id}/caseload", response_model=ProviderCaseload)
def provider_caseload(
    context: Context, provider_id: ProviderId, principal: Authenticated, reading: Reading
) -> ProviderCaseload:
    """The provider's coaches with their caseload and free places, and its coachings."""
    principal.require(*STAFF)
    row = provider_in_scope(context, provider_id, principal)
    rows = [
        r
        for r in context.records.of_provider(provider_id, "active")
        if principal.may_see(r["district"])
    ]
    cases = context.directory.cases([r["case_id"] for r in rows])
    return ProviderCaseload(
        provider=_Readers(context).provider(row),
        coachings=[_Readers(context).packet(r, cases.get(r["case_id"]), reading) for r in rows],
    )


@router.put(
    "/providers/{provider_id}/outreach/{district}",
    response_model=OutreachContract,
)
def contract_outreach(
    context: Context, provider_id: ProviderId, district: DistrictInPath, principal: Authenticated
) -> OutreachContract:
    """Contract the provider to run the outreach in one of the districts it serves (team
    lead of that district). Its outreach workers (``provider_outreach`` tokens naming the
    provider) may then work the district's planning board in the visits service. 409
    ``provider_does_not_serve_district`` for a district outside the provider's contract.
    Idempotent."""
    return set_outreach(context, provider_id, district, principal, contracted=True)


@router.delete(
    "/providers/{provider_id}/outreach/{district}",
    response_model=OutreachContract,
)
def end_outreach_contract(
    context: Context, provider_id: ProviderId, district: DistrictInPath, principal: Authenticated
) -> OutreachContract:
    """End the provider's outreach in the district; its outreach workers lose access to
    the district's planning board. Idempotent."""
    return set_outreach(context, provider_id, district, principal, contracted=False)


def set_outreach(
    context: CoachingContext,
    provider_id: UUID,
    district: str,
    principal: Principal,
    *,
    contracted: bool,
) -> OutreachContract:
    principal.require(Role.TEAM_LEAD)
    provider_to_change(context, provider_id, principal)
    principal.check_district(district, "district")
    provider = context.app.set_outreach_contract(
        provider_id, district, contracted=contracted, ctx=_ctx(principal)
    )
    return OutreachContract(
        provider_id=provider.id, outreach_districts=list(provider.outreach_districts)
    )


@router.post(
    "/providers/{provider_id}/coaches",
    status_code=status.HTTP_201_CREATED,
    response_model=CoachOut,
)
def register_coach(
    context: Context, provider_id: ProviderId, body: RegisterCoach, principal: Authenticated
) -> CoachOut:
    principal.require(Role.TEAM_LEAD)
    provider_to_change(context, provider_id, principal)
    coach: Coach = context.app.register_coach(
        provider_id,
        user=body.coach,
        display_name=body.display_name,
        max_caseload=body.max_caseload,
        emergency_line=body.emergency_line,
        ctx=_ctx(principal),
    )
    return CoachOut(
        coach=coach.user,
        display_name=coach.display_name,
        max_caseload=coach.max_caseload,
        caseload=0,
        free_places=coach.free_places,
        emergency_line=coach.emergency_line,
    )


# coachings


@router.post("/coachings", status_code=status.HTTP_201_CREATED, response_model=Created)
def request_coaching(context: Context, body: RequestCoaching, principal: Authenticated) -> Created:
    principal.require(*STAFF)
    case = known_case(context, body.case_id, principal)
    row = context.directory.case(body.case_id)
    if row is not None and not row["is_open"]:
        raise CaseClosedError(f"case {body.case_id} is closed")
    coaching_id = context.app.request_coaching(
        case,
        source=CoachingSource.CASE_MANAGER,
        needs=body.needs,
        shared_fields=body.shared_fields,
        ctx=_ctx(principal),
    )
    return Created(id=coaching_id)


@router.get("/coachings", response_model=CoachingList)
def coachings(
    context: Context,
    principal: Authenticated,
    reading: Reading,
    district: District,
    status_filter: Annotated[
        Literal["requested", "active", "ended"] | None, Query(alias="status")
    ] = None,
) -> CoachingList:
    principal.require(*STAFF)
    principal.check_district(district, "district")
    rows = context.records.in_district(district, status_filter)
    return CoachingList(district=district, coachings=_Readers(context).coachings(rows, reading))


@router.get("/coachings/extension-due", response_model=CoachingList)
def extension_due(
    context: Context, principal: Authenticated, reading: Reading, district: District
) -> CoachingList:
    """Active coachings ending within the configured days (14): decide on an extension."""
    principal.require(*STAFF)
    principal.check_district(district, "district")
    rows = context.records.ending_within(district, dt.date.today(), context.extension_due_days)
    return CoachingList(district=district, coachings=_Readers(context).coachings(rows, reading))


# Only a UUID names a coaching: ``/coachings/extension-due`` is its own route.
@router.get("/coachings/{coaching_id:uuid}", response_model=CoachingOut)
def coaching_detail(
    context: Context, coaching_id: CoachingId, principal: Authenticated, reading: Reading
) -> CoachingOut:
    principal.require(*STAFF)
    row = projected(
        lambda: context.records.coaching(coaching_id),
        lambda: context.app.get_coaching(coaching_id),
    )
    if row is None or not principal.may_see(row["district"]):
        raise NotFoundError("coaching not found")
    return _Readers(context).coaching(row, context.directory.case(row["case_id"]), reading)


@router.get("/cases/{case_id}/coachings", response_model=History)
def coaching_history(
    context: Context, case_id: CaseId, principal: Authenticated, reading: Reading
) -> History:
    """Every coaching of the person of this case (also from earlier cases)."""
    principal.require(*STAFF)
    case = known_case(context, case_id, principal)
    rows = [r for r in context.records.history(case.subject_id) if principal.may_see(r["district"])]
    return History(case_id=case_id, coachings=_Readers(context).coachings(rows, reading))


@router.post("/coachings/{coaching_id}/assign", response_model=CoachingState)
def assign_coach(
    context: Context, coaching_id: CoachingId, body: AssignCoach, principal: Authenticated
) -> CoachingState:
    principal.require(*STAFF)
    coaching_in_scope(context, coaching_id, principal)
    coaching = context.app.assign_coach(
        coaching_id,
        provider_id=body.provider_id,
        coach_user=body.coach,
        starts_on=body.starts_on,
        ctx=_ctx(principal),
    )
    return _state(coaching)


@router.post("/coachings/{coaching_id}/extend", response_model=CoachingState)
def extend(
    context: Context, coaching_id: CoachingId, body: ExtendCoaching, principal: Authenticated
) -> CoachingState:
    principal.require(*STAFF)
    coaching_in_scope(context, coaching_id, principal)
    coaching = context.app.extend(
        coaching_id,
        reason=body.reason,
        until=body.until,
        by_team_lead=principal.role is Role.TEAM_LEAD,
        ctx=_ctx(principal),
    )
    return _state(coaching)


@router.post("/coachings/{coaching_id}/end", response_model=CoachingState)
def end(
    context: Context, coaching_id: CoachingId, body: EndCoaching, principal: Authenticated
) -> CoachingState:
    principal.require(*STAFF)
    coaching_in_scope(context, coaching_id, principal)
    coaching = context.app.end(
        coaching_id, reason=body.reason, ended_on=body.ended_on, ctx=_ctx(principal)
    )
    return _state(coaching)


@router.post("/coachings/{coaching_id}/household-members", response_model=CoachingState)
def add_household_member(
    context: Context, coaching_id: CoachingId, body: AddHouseholdMember, principal: Authenticated
) -> CoachingState:
    principal.require(*STAFF)
    coaching_in_scope(context, coaching_id, principal)
    coaching = context.app.add_household_member(
        coaching_id, name=body.name, relation=body.relation, ctx=_ctx(principal)
    )
    return _state(coaching)


@router.post("/coachings/{coaching_id}/partner-referrals", response_model=CoachingState)
def record_partner_referral(
    context: Context, coaching_id: CoachingId, body: RecordPartnerReferral, principal: Authenticated
) -> CoachingState:
    principal.require(*STAFF)
    coaching_in_scope(context, coaching_id, principal)
    coaching = context.app.record_partner_referral(
        coaching_id, partner=body.partner, referred_on=body.referred_on, ctx=_ctx(principal)
    )
    return _state(coaching)


# group programmes


def programme_in_scope(context: CoachingContext, programme_id: UUID, principal: Principal) -> None:
    programme = context.app.get_programme(programme_id)
    principal.check_district(programme.district, "programme")


@router.post("/programmes", status_code=status.HTTP_201_CREATED, response_model=Created)
def plan_programme(context: Context, body: PlanProgramme, principal: Authenticated) -> Created:
    principal.require(Role.TEAM_LEAD)
    principal.check_district(body.district, "district")
    programme_id = context.app.plan_programme(
        district=body.district,
        local_office=body.local_office,
        title=body.title,
        target_group=body.target_group,
        dates=body.dates,
        capacity=body.capacity,
        open_to_neighbouring=body.open_to_neighbouring,
        mobile=body.mobile,
        ctx=_ctx(principal),
    )
    return Created(id=programme_id)


@router.get("/programmes", response_model=list[ProgrammeOut])
def programmes(
    context: Context, principal: Authenticated, district: District
) -> list[ProgrammeOut]:
    """The district's programmes, and the neighbours' programmes open to it."""
    principal.require(*STAFF)
    principal.check_district(district, "district")
    return [_Readers(context).programme(row) for row in context.programmes.programmes(district)]


@router.get("/programmes/{programme_id}", response_model=Roster)
def roster(
    context: Context, programme_id: ProgrammeId, principal: Authenticated, reading: Reading
) -> Roster:
    principal.require(*STAFF)
    row = projected(
        lambda: context.programmes.programme(programme_id),
        lambda: context.app.get_programme(programme_id),
    )
    if row is None or not principal.may_see(row["district"]):
        raise NotFoundError("programme not found")
    participants = context.programmes.roster(programme_id)
    cases = context.directory.cases([p["case_id"] for p in participants])
    for p in participants:
        reading.opened(
            p["subject_id"],
            ["programme_participation", *(["name"] if p["case_id"] in cases else [])],
            district=p["participant_district"],
            resource=f"programme:{programme_id}",
        )
    attendance: dict[UUID, list[Attendance]] = {}
    for a in context.programmes.attendance(programme_id):
        attendance.setdefault(a["case_id"], []).append(
            Attendance(session_on=a["session_on"], present=a["present"])
        )
    return Roster(
        programme=_Readers(context).programme(row),
        participants=[
            Participant(
                case_id=p["case_id"],
                name=context.cipher.open(cases[p["case_id"]]["name_token"])
                if p["case_id"] in cases
                else None,
                participant_district=p["participant_district"],
                enrolled_on=p["enrolled_on"],
                completed_on=p["completed_on"],
                attendance=attendance.get(p["case_id"], []),
            )
            for p in participants
        ],
    )


@router.post("/programmes/{programme_id}/participants", response_model=ProgrammeState)
def enrol(
    context: Context, programme_id: ProgrammeId, body: Enrol, principal: Authenticated
) -> ProgrammeState:
    principal.require(*STAFF)
    programme_in_scope(context, programme_id, principal)
    programme = context.app.enrol(
        programme_id, known_case(context, body.case_id, principal), ctx=_ctx(principal)
    )
    return ProgrammeState(
        programme_id=programme.id,
        enrolled=len(programme.participants),
        free_places=programme.free_places,
    )


@router.post("/programmes/{programme_id}/attendance", response_model=ProgrammeState)
def record_attendance(
    context: Context, programme_id: ProgrammeId, body: RecordAttendance, principal: Authenticated
) -> ProgrammeState:
    principal.require(*STAFF)
    programme_in_scope(context, programme_id, principal)
    programme = context.app.record_attendance(
        programme_id,
        case_id=body.case_id,
        session_on=body.session_on,
        present=body.present,
        ctx=_ctx(principal),
    )
    return ProgrammeState(
        programme_id=programme.id,
        enrolled=len(programme.participants),
        free_places=programme.free_places,
    )


@router.post(
    "/programmes/{programme_id}/participants/{case_id}/complete",
    response_model=ProgrammeState,
)
def complete_participation(
    context: Context,
    programme_id: ProgrammeId,
    case_id: CaseId,
    body: CompleteParticipation,
    principal: Authenticated,
) -> ProgrammeState:
    principal.require(*STAFF)
    programme_in_scope(context, programme_id, principal)
    programme = context.app.complete_participation(
        programme_id, case_id=case_id, completed_on=body.completed_on, ctx=_ctx(principal)
    )
    return ProgrammeState(
        programme_id=programme.id,
        enrolled=len(programme.participants),
        free_places=programme.free_places,
    )
