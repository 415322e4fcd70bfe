"""Providers, coaches, coachings and group programmes (DOMAIN.md, step 4 and 5).

No I/O here. Personal fields (household members' names) arrive already sealed with the
person's own key; "today", ids and the deciding user's role are passed in by the
application.

- A :class:`Provider` (Träger) serves districts under contract terms: an initial coaching
  term (four months in Kassel), how long one extension lasts, and how many are allowed. A
  provider can also be contracted to run the outreach itself in some of its districts; its
  outreach workers then work those districts' planning boards (the visits service learns the
  contract from ``ProviderOutreachContracted``).
- A :class:`Coach` works for one provider and has a maximum caseload; the places taken are
  recorded on the coach, so two assignments at the same time cannot both take the last one.
- A :class:`Coaching` follows one person from the request to its end. Only facts are
  recorded — sessions held, referrals to partners, the end — never counselling content.
  Ending because the person declined is an outcome like any other: nothing marks the person.
- A :class:`Programme` is a group programme the Jobcenter runs itself in a local office
  (Kreis Borken), with a capacity, dates, attendance and completion.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared.contracts.coaching import CoachingEndReason, CoachingSource, ExtensionReason
from shared.contracts.visits import Need
from shared.dates import check_not_in_future
from shared.errors import ConflictError, ForbiddenError, InvalidInputError

Meta = dict[str, Any]
"""Who did it and which request it belongs to (see ``shared.eventsourcing.meta.CommandContext``)."""

HANDOVER_FIELDS = ("name", "address", "phone", "needs")
"""What a provider may receive at the hand-over, if the person consented to share it. Never
the visit's note, the customer number, the date of birth, or the case's history."""


class CoachingStatus(StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    ENDED = "ended"


class HouseholdRelation(StrEnum):
    PARTNER = "partner"
    CHILD = "child"
    PARENT = "parent"
    OTHER_HOUSEHOLD_MEMBER = "other_household_member"


class PartnerKind(StrEnum):
    YOUTH_OFFICE = "youth_office"
    DEBT_COUNSELLING = "debt_counselling"
    ADDICTION_COUNSELLING = "addiction_counselling"
    HOUSING_ASSISTANCE = "housing_assistance"
    HEALTH_SERVICE = "health_service"
    OTHER = "other"


# --- errors -----------------------------------------------------------------------------


class InvalidContractTermsError(InvalidInputError):
    code = "invalid_contract_terms"


class InvalidDistrictsError(InvalidInputError):
    code = "invalid_districts"


class InvalidCaseloadError(InvalidInputError):
    code = "invalid_caseload"


class InvalidHandoverFieldsError(InvalidInputError):
    code = "invalid_handover_fields"


class DateOutOfRangeError(InvalidInputError):
    code = "date_out_of_range"


class InvalidProgrammeError(InvalidInputError):
    code = "invalid_programme"


class CoachNotOfProviderError(InvalidInputError):
    code = "coach_not_of_provider"


class ProviderDoesNotServeDistrictError(ConflictError):
    code = "provider_does_not_serve_district"


class CoachAtFullCaseloadError(ConflictError):
    code = "coach_at_full_caseload"


class CoachAlreadyAssignedError(ConflictError):
    code = "coach_already_assigned"


class CoachingNotActiveError(ConflictError):
    code = "coaching_not_active"


class CoachingEndedError(ConflictError):
    code = "coaching_ended"


class ExtensionLimitReachedError(ConflictError):
    code = "extension_limit_reached"


class ExtensionNeedsTeamLeadError(ForbiddenError):
    code = "extension_needs_team_lead"


class CoachingAlreadyOpenError(ConflictError):
    code = "coaching_already_open"


class ProgrammeFullError(ConflictError):
    code = "programme_full"


class AlreadyEnrolledError(ConflictError):
    code = "already_enrolled"


class NotEnrolledError(ConflictError):
    code = "not_enrolled"


class ProgrammeNotOpenError(ConflictError):
    code = "programme_not_open_to_other_districts"


class ParticipationCompletedError(ConflictError):
    code = "participation_completed"


# --- values -----------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day if it is shorter)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class ContractTerms:
    """What the provider's contract with the Jobcenter says about a coaching's duration."""

    initial_months: int = 4
    extension_months: int = 2
    max_extensions: int = 2

    def check_is_valid(self) -> None:
        if not 1 <= self.initial_months <= 24:
            raise InvalidContractTermsError(
                "the initial term lasts 1 to 24 months", field="initial_term_months"
            )
        if not 1 <= self.extension_months <= 12:
            raise InvalidContractTermsError(
                "an extension lasts 1 to 12 months", field="extension_months"
            )
        if not 0 <= self.max_extensions <= 6:
            raise InvalidContractTermsError(
                "0 to 6 extensions may be allowed", field="max_extensions"
            )

    def as_event(self) -> dict[str, int]:
        return {
            "initial_months": self.initial_months,
            "extension_months": self.extension_months,
            "max_extensions": self.max_extensions,
        }


def check_handover_fields(fields: Sequence[str]) -> list[str]:
    unknown = sorted(set(fields) - set(HANDOVER_FIELDS))
    if unknown:
        raise InvalidHandoverFieldsError(
            "only these fields can be shared with a provider: " + ", ".join(HANDOVER_FIELDS),
            unknown=unknown,
        )
    return [f for f in HANDOVER_FIELDS if f in fields]


# --- providers and coaches ----------------------------------------------------------------


class Provider(Aggregate):
    """A provider (Träger) of coachings, its districts and its contract terms."""

    class Registered(Aggregate.Created):
        name: str
        districts: list[str]
        terms: dict[str, int]
        meta: Meta

    class CoachAdded(Aggregate.Event):
        coach: str
        meta: Meta

    class OutreachContracted(Aggregate.Event):
        district: str
        provider_name: str
        meta: Meta

    class OutreachContractEnded(Aggregate.Event):
        district: str
        meta: Meta

    @classmethod
    def register(
        cls,
        *,
        provider_id: UUID,
        name: str,
        districts: Sequence[str],
        terms: ContractTerms,
        meta: Meta,
    ) -> Provider:
        cleaned = sorted({d.strip() for d in districts})
        if not cleaned or any(not d for d in cleaned):
            raise InvalidDistrictsError(
                "a provider serves at least one district", field="districts"
            )
        if not name.strip():
            raise InvalidInputError("a provider has a name", field="name")
        terms.check_is_valid()
        return cls(
            id=provider_id, name=name.strip(), districts=cleaned, terms=terms.as_event(), meta=meta
        )

    @event(Registered)
    def __init__(
        self, *, id: UUID, name: str, districts: list[str], terms: dict[str, int], meta: Meta
    ) -> None:
        self.name = name
        self.districts = list(districts)
        self.terms = ContractTerms(**terms)
        self.coaches: list[str] = []
        self.outreach_districts: list[str] = []

    def serves(self, district: str) -> bool:
        return district in self.districts

    def check_serves(self, district: str) -> None:
        if not self.serves(district):
            raise ProviderDoesNotServeDistrictError(
                f"{self.name} does not serve {district}",
                provider_id=str(self.id),
                district=district,
            )

    def add_coach(self, coach: str, meta: Meta) -> None:
        if coach not in self.coaches:
            self._coach_added(coach=coach, meta=meta)

    @event(CoachAdded)
    def _coach_added(self, *, coach: str, meta: Meta) -> None:
        self.coaches.append(coach)

    def contract_outreach(self, district: str, meta: Meta) -> bool:
        """Contract the provider to run the outreach in ``district`` (one it serves).
        ``False`` if it already does (nothing recorded)."""
        self.check_serves(district)
        if district in self.outreach_districts:
            return False
        self._outreach_contracted(district=district, provider_name=self.name, meta=meta)
        return True

    @event(OutreachContracted)
    def _outreach_contracted(self, *, district: str, provider_name: str, meta: Meta) -> None:
        self.outreach_districts = sorted({*self.outreach_districts, district})

    def end_outreach_contract(self, district: str, meta: Meta) -> bool:
        """End the provider's outreach in ``district``. ``False`` if it had none there."""
        if district not in self.outreach_districts:
            return False
        self._outreach_contract_ended(district=district, meta=meta)
        return True

    @event(OutreachContractEnded)
    def _outreach_contract_ended(self, *, district: str, meta: Meta) -> None:
        self.outreach_districts = [d for d in self.outreach_districts if d != district]


COACH_NAMESPACE = UUID("4c1f7e2a-9b3d-4a5e-8f6c-2d1e0b9a8c7f")


class Coach(Aggregate):
    """A coach of one provider. The user id of their ``provider_coach`` token names them."""

    class Registered(Aggregate.Created):
        user: str
        provider_id: UUID
        display_name: str
        max_caseload: int
        emergency_line: str
        meta: Meta

    class PlaceTaken(Aggregate.Event):
        coaching_id: UUID
        meta: Meta

    class PlaceReleased(Aggregate.Event):
        coaching_id: UUID
        meta: Meta

    @staticmethod
    def id_for(user: str) -> UUID:
        return uuid5(COACH_NAMESPACE, user)

    @classmethod
    def register(
        cls,
        *,
        user: str,
        provider: Provider,
        display_name: str,
        max_caseload: int,
        emergency_line: str,
        meta: Meta,
    ) -> Coach:
        if not 1 <= max_caseload <= 100:
            raise InvalidCaseloadError("a caseload holds 1 to 100 people", field="max_caseload")
        coach = cls(
            id=cls.id_for(user),
            user=user,
            provider_id=provider.id,
            display_name=display_name,
            max_caseload=max_caseload,
            emergency_line=emergency_line,
            meta=meta,
        )
        provider.add_coach(user, meta)
        return coach

    @event(Registered)
    def __init__(
        self,
        *,
        id: UUID,
        user: str,
        provider_id: UUID,
        display_name: str,
        max_caseload: int,
        emergency_line: str,
        meta: Meta,
    ) -> None:
        self.user = user
        self.provider_id = provider_id
        self.display_name = display_name
        self.max_caseload = max_caseload
        self.emergency_line = emergency_line
        self.coachings: list[UUID] = []

    @property
    def free_places(self) -> int:
        return max(self.max_caseload - len(self.coachings), 0)

    def check_works_for(self, provider_id: UUID) -> None:
        if self.provider_id != provider_id:
            raise CoachNotOfProviderError(
                f"{self.user} is not a coach of this provider", field="coach"
            )

    def take_place(self, coaching_id: UUID, meta: Meta) -> None:
        """Raises :class:`CoachAtFullCaseloadError`; the application adds who has capacity."""
        if coaching_id in self.coachings:
            return
        if self.free_places == 0:
            raise CoachAtFullCaseloadError(
                f"{self.user} has a full caseload ({self.max_caseload})",
                coach=self.user,
                max_caseload=self.max_caseload,
            )
        self._place_taken(coaching_id=coaching_id, meta=meta)

    @event(PlaceTaken)
    def _place_taken(self, *, coaching_id: UUID, meta: Meta) -> None:
        self.coachings.append(coaching_id)

    def release_place(self, coaching_id: UUID, meta: Meta) -> None:
        if coaching_id in self.coachings:
            self._place_released(coaching_id=coaching_id, meta=meta)

    @event(PlaceReleased)
    def _place_released(self, *, coaching_id: UUID, meta: Meta) -> None:
        self.coachings.remove(coaching_id)


# --- coachings ----------------------------------------------------------------------------


class Coaching(Aggregate):
    """One person's coaching, from the request to its end."""

    class Requested(Aggregate.Created):
        case_id: UUID
        subject_id: UUID
        district: str
        source: str
        needs: list[str]
        shared_fields: list[str]
        requested_on: date
        meta: Meta

    class CoachAssigned(Aggregate.Event):
        case_id: UUID
        provider_id: UUID
        provider_name: str
        coach: str
        starts_on: date
        ends_on: date
        meta: Meta

    class Extended(Aggregate.Event):
        case_id: UUID
        ends_on: date
        reason: str
        extension_number: int
        meta: Meta

    class SessionHeld(Aggregate.Event):
        held_on: date
        meta: Meta

    class HouseholdMemberAdded(Aggregate.Event):
        name: str
        relation: str
        meta: Meta

    class PartnerReferralRecorded(Aggregate.Event):
        partner: str
        referred_on: date
        meta: Meta

    class Ended(Aggregate.Event):
        case_id: UUID
        reason: str
        ended_on: date
        sessions_held: int
        meta: Meta

    @classmethod
    def request(
        cls,
        *,
        coaching_id: UUID,
        case_id: UUID,
        subject_id: UUID,
        district: str,
        source: CoachingSource,
        needs: Sequence[Need],
        shared_fields: Sequence[str],
        today: date,
        meta: Meta,
    ) -> Coaching:
        fields = check_handover_fields(shared_fields)
        return cls(
            id=coaching_id,
            case_id=case_id,
            subject_id=subject_id,
            district=district,
            source=source.value,
            # Needs travel to the provider only as far as the person consented to share them.
            needs=sorted({n.value for n in needs}) if "needs" in fields else [],
            shared_fields=fields,
            requested_on=today,
            meta=meta,
        )

    @event(Requested)
    def __init__(
        self,
        *,
        id: UUID,
        case_id: UUID,
        subject_id: UUID,
        district: str,
        source: str,
        needs: list[str],
        shared_fields: list[str],
        requested_on: date,
        meta: Meta,
    ) -> None:
        self.case_id = case_id
        self.subject_id = subject_id
        self.district = district
        self.source = CoachingSource(source)
        self.needs = list(needs)
        self.shared_fields = list(shared_fields)
        self.requested_on = requested_on
        self.status = CoachingStatus.REQUESTED
        self.provider_id: UUID | None = None
        self.coach: str | None = None
        self.starts_on: date | None = None
        self.ends_on: date | None = None
        self.extensions = 0
        self.sessions_held = 0

    # checks

    def check_not_ended(self) -> None:
        if self.status is CoachingStatus.ENDED:
            raise CoachingEndedError(f"coaching {self.id} has ended", coaching_id=str(self.id))

    def check_is_active(self) -> None:
        self.check_not_ended()
        if self.status is not CoachingStatus.ACTIVE:
            raise CoachingNotActiveError(
                f"coaching {self.id} has no coach yet", coaching_id=str(self.id)
            )

    def check_in_term(self, name: str, day: date, today: date) -> None:
        check_not_in_future(name, day, today)
        if self.starts_on is not None and day < self.starts_on:
            raise DateOutOfRangeError(f"{name} lies before the coaching started", field=name)

    # commands

    def assign_coach(
        self, *, provider: Provider, coach: Coach, starts_on: date, meta: Meta
    ) -> None:
        """Starts the coaching for the contract's initial term. The coach's place is taken by
        the application (:meth:`Coach.take_place`), saved together with this event."""
        self.check_not_ended()
        if self.status is CoachingStatus.ACTIVE:
            raise CoachAlreadyAssignedError(
                f"coaching {self.id} has a coach already: {self.coach}", coach=self.coach
            )
        provider.check_serves(self.district)
        coach.check_works_for(provider.id)
        if starts_on < self.requested_on:
            raise DateOutOfRangeError(
                "the coaching cannot start before it was requested", field="starts_on"
            )
        self._coach_assigned(
            case_id=self.case_id,
            provider_id=provider.id,
            provider_name=provider.name,
            coach=coach.user,
            starts_on=starts_on,
            ends_on=add_months(starts_on, provider.terms.initial_months),
            meta=meta,
        )

    @event(CoachAssigned)
    def _coach_assigned(
        self,
        *,
        case_id: UUID,
        provider_id: UUID,
        provider_name: str,
        coach: str,
        starts_on: date,
        ends_on: date,
        meta: Meta,
    ) -> None:
        self.status = CoachingStatus.ACTIVE
        self.provider_id = provider_id
        self.coach = coach
        self.starts_on = starts_on
        self.ends_on = ends_on

    def extend(
        self,
        *,
        terms: ContractTerms,
        reason: ExtensionReason,
        until: date | None,
        by_team_lead: bool,
        meta: Meta,
    ) -> None:
        """One more term, decided by a team lead, within the contract's maximum."""
        if not by_team_lead:
            raise ExtensionNeedsTeamLeadError("only a team lead extends a coaching")
        self.check_is_active()
        if self.extensions >= terms.max_extensions:
            raise ExtensionLimitReachedError(
                f"the contract allows {terms.max_extensions} extension(s); "
                f"this coaching had {self.extensions}",
                max_extensions=terms.max_extensions,
            )
        assert self.ends_on is not None
        longest = add_months(self.ends_on, terms.extension_months)
        new_end = until or longest
        if not self.ends_on < new_end <= longest:
            raise DateOutOfRangeError(
                f"the new end lies after {self.ends_on.isoformat()} and at the latest on "
                f"{longest.isoformat()}",
                field="until",
            )
        self._extended(
            case_id=self.case_id,
            ends_on=new_end,
            reason=reason.value,
            extension_number=self.extensions + 1,
            meta=meta,
        )

    @event(Extended)
    def _extended(
        self, *, case_id: UUID, ends_on: date, reason: str, extension_number: int, meta: Meta
    ) -> None:
        self.ends_on = ends_on
        self.extensions = extension_number

    def record_session(self, *, held_on: date, today: date, meta: Meta) -> None:
        """A fact only: that a session took place, and when."""
        self.check_is_active()
        self.check_in_term("held_on", held_on, today)
        self._session_held(held_on=held_on, meta=meta)

    @event(SessionHeld)
    def _session_held(self, *, held_on: date, meta: Meta) -> None:
        self.sessions_held += 1

    def add_household_member(self, *, name: str, relation: HouseholdRelation, meta: Meta) -> None:
        """§16k: the coaching can include the household (``name`` is sealed)."""
        self.check_not_ended()
        self._household_member_added(name=name, relation=relation.value, meta=meta)

    @event(HouseholdMemberAdded)
    def _household_member_added(self, *, name: str, relation: str, meta: Meta) -> None:
        pass

    def record_partner_referral(
        self, *, partner: PartnerKind, referred_on: date, today: date, meta: Meta
    ) -> None:
        """§16k: a referral to a partner agency (e.g. the youth office), as a fact."""
        self.check_not_ended()
        check_not_in_future("referred_on", referred_on, today)
        self._partner_referral_recorded(partner=partner.value, referred_on=referred_on, meta=meta)

    @event(PartnerReferralRecorded)
    def _partner_referral_recorded(self, *, partner: str, referred_on: date, meta: Meta) -> None:
        pass

    def end(self, *, reason: CoachingEndReason, ended_on: date, today: date, meta: Meta) -> None:
        """Ends the coaching; the coach's place is released by the application."""
        self.check_not_ended()
        check_not_in_future("ended_on", ended_on, today)
        if ended_on < (self.starts_on or self.requested_on):
            raise DateOutOfRangeError("the coaching cannot end before it began", field="ended_on")
        self._ended(
            case_id=self.case_id,
            reason=reason.value,
            ended_on=ended_on,
            sessions_held=self.sessions_held,
            meta=meta,
        )

    @event(Ended)
    def _ended(
        self, *, case_id: UUID, reason: str, ended_on: date, sessions_held: int, meta: Meta
    ) -> None:
        self.status = CoachingStatus.ENDED


CASE_COACHING_NAMESPACE = UUID("b7e2d4c1-6a3f-4e8b-9d0c-1f2e3a4b5c6d")


class CaseCoaching(Aggregate):
    """Which coaching of one case is open: at most one at a time.

    Its id is derived from the case id, so a referral after a visit and a case manager's
    direct request for the same case collide in the event store, atomically.
    """

    class Started(Aggregate.Created):
        case_id: UUID

    class Opened(Aggregate.Event):
        coaching_id: UUID

    class Closed(Aggregate.Event):
        coaching_id: UUID

    @staticmethod
    def id_for(case_id: UUID) -> UUID:
        return uuid5(CASE_COACHING_NAMESPACE, str(case_id))

    @classmethod
    def start(cls, case_id: UUID) -> CaseCoaching:
        return cls(id=cls.id_for(case_id), case_id=case_id)

    @event(Started)
    def __init__(self, *, id: UUID, case_id: UUID) -> None:
        self.case_id = case_id
        self.open_coaching_id: UUID | None = None

    def check_none_open(self) -> None:
        if self.open_coaching_id is not None:
            raise CoachingAlreadyOpenError(
                f"a coaching is open for this case already: {self.open_coaching_id}",
                existing_coaching_id=str(self.open_coaching_id),
            )

    def open(self, coaching_id: UUID) -> None:
        self.check_none_open()
        self._opened(coaching_id=coaching_id)

    @event(Opened)
    def _opened(self, *, coaching_id: UUID) -> None:
        self.open_coaching_id = coaching_id

    def close(self, coaching_id: UUID) -> None:
        if self.open_coaching_id == coaching_id:
            self._closed(coaching_id=coaching_id)

    @event(Closed)
    def _closed(self, *, coaching_id: UUID) -> None:
        self.open_coaching_id = None


# --- group programmes ---------------------------------------------------------------------


class Programme(Aggregate):
    """A group programme the Jobcenter runs itself in one local office (Kreis Borken)."""

    class Planned(Aggregate.Created):
        district: str
        local_office: str
        title: str
        target_group: str
        dates: list[date]
        capacity: int
        open_to_neighbouring: bool
        mobile: bool
        meta: Meta

    class ParticipantEnrolled(Aggregate.Event):
        case_id: UUID
        subject_id: UUID
        participant_district: str
        enrolled_on: date
        meta: Meta

    class AttendanceRecorded(Aggregate.Event):
        case_id: UUID
        session_on: date
        present: bool
        meta: Meta

    class ParticipationCompleted(Aggregate.Event):
        case_id: UUID
        completed_on: date
        meta: Meta

    @classmethod
    def plan(
        cls,
        *,
        programme_id: UUID,
        district: str,
        local_office: str,
        title: str,
        target_group: str,
        dates: Sequence[date],
        capacity: int,
        open_to_neighbouring: bool,
        mobile: bool,
        meta: Meta,
    ) -> Programme:
        days = sorted(set(dates))
        if not days:
            raise InvalidProgrammeError("a programme has at least one date", field="dates")
        if not 1 <= capacity <= 100:
            raise InvalidProgrammeError("a group holds 1 to 100 people", field="capacity")
        if not title.strip():
            raise InvalidProgrammeError("a programme has a title", field="title")
        return cls(
            id=programme_id,
            district=district,
            local_office=local_office,
            title=title.strip(),
            target_group=target_group.strip(),
            dates=days,
            capacity=capacity,
            open_to_neighbouring=open_to_neighbouring,
            mobile=mobile,
            meta=meta,
        )

    @event(Planned)
    def __init__(
        self,
        *,
        id: UUID,
        district: str,
        local_office: str,
        title: str,
        target_group: str,
        dates: list[date],
        capacity: int,
        open_to_neighbouring: bool,
        mobile: bool,
        meta: Meta,
    ) -> None:
        self.district = district
        self.local_office = local_office
        self.title = title
        self.target_group = target_group
        self.dates = list(dates)
        self.capacity = capacity
        self.open_to_neighbouring = open_to_neighbouring
        self.mobile = mobile
        self.participants: dict[UUID, bool] = {}
        """case id -> completed."""

    @property
    def free_places(self) -> int:
        return max(self.capacity - len(self.participants), 0)

    def check_enrolled(self, case_id: UUID) -> None:
        if case_id not in self.participants:
            raise NotEnrolledError(
                "this person is not enrolled in the programme", case_id=str(case_id)
            )

    def enrol(
        self,
        *,
        case_id: UUID,
        subject_id: UUID,
        participant_district: str,
        today: date,
        meta: Meta,
    ) -> None:
        if case_id in self.participants:
            raise AlreadyEnrolledError("this person is enrolled already", case_id=str(case_id))
        if participant_district != self.district and not self.open_to_neighbouring:
            raise ProgrammeNotOpenError(
                f"the programme is open to people of {self.district} only",
                district=self.district,
            )
        if self.free_places == 0:
            raise ProgrammeFullError(
                f"the programme is full ({self.capacity} places)", capacity=self.capacity
            )
        self._participant_enrolled(
            case_id=case_id,
            subject_id=subject_id,
            participant_district=participant_district,
            enrolled_on=today,
            meta=meta,
        )

    @event(ParticipantEnrolled)
    def _participant_enrolled(
        self,
        *,
        case_id: UUID,
        subject_id: UUID,
        participant_district: str,
        enrolled_on: date,
        meta: Meta,
    ) -> None:
        self.participants[case_id] = False

    def record_attendance(
        self, *, case_id: UUID, session_on: date, present: bool, today: date, meta: Meta
    ) -> None:
        self.check_enrolled(case_id)
        if session_on not in self.dates:
            raise DateOutOfRangeError(
                f"{session_on.isoformat()} is not a date of the programme", field="session_on"
            )
        check_not_in_future("session_on", session_on, today)
        self._attendance_recorded(
            case_id=case_id, session_on=session_on, present=present, meta=meta
        )

    @event(AttendanceRecorded)
    def _attendance_recorded(
        self, *, case_id: UUID, session_on: date, present: bool, meta: Meta
    ) -> None:
        pass

    def complete(self, *, case_id: UUID, completed_on: date, today: date, meta: Meta) -> None:
        self.check_enrolled(case_id)
        if self.participants[case_id]:
            raise ParticipationCompletedError(
                "this participation is completed already", case_id=str(case_id)
            )
        check_not_in_future("completed_on", completed_on, today)
        self._participation_completed(case_id=case_id, completed_on=completed_on, meta=meta)

    @event(ParticipationCompleted)
    def _participation_completed(self, *, case_id: UUID, completed_on: date, meta: Meta) -> None:
        self.participants[case_id] = True
