"""One person's coaching (§16k SGB II), from the request to its end.

Only facts are recorded — sessions held, household members (names sealed with the person's
own key before they arrive here), referrals to partners, the end — never counselling
content. Ending because the person declined is an outcome like any other: nothing marks the
person. "Today" and ids are passed in by the application.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from coaching.domain.coach import Coach
from coaching.domain.errors import (
    CoachAlreadyAssignedError,
    CoachingEndedError,
    CoachingNotActiveError,
    DateOutOfRangeError,
    ExtensionLimitReachedError,
    ExtensionNeedsTeamLeadError,
)
from coaching.domain.provider import Provider
from coaching.domain.values import (
    CoachingStatus,
    ContractTerms,
    HouseholdRelation,
    PartnerKind,
    add_months,
    check_handover_fields,
)
from shared.contracts.coaching import CoachingEndReason, CoachingSource, ExtensionReason
from shared.contracts.visits import Need
from shared.dates import check_not_in_future
from shared.eventsourcing.meta import AuditedEvent


class Coaching(Aggregate):
    """One person's coaching, from the request to its end.

    Each event records who caused it (``meta``, from the command's context). Its ``TOPIC``
    is the name it is stored under: the projections select the log by it.
    """

    class Event(AuditedEvent):
        pass

    class Requested(Event, Aggregate.Created):
        TOPIC = "coaching.domain:Coaching.Requested"
        case_id: UUID
        subject_id: UUID
        district: str
        source: str
        needs: list[str]
        shared_fields: list[str]
        requested_on: date

    class CoachAssigned(Event):
        TOPIC = "coaching.domain:Coaching.CoachAssigned"
        case_id: UUID
        provider_id: UUID
        provider_name: str
        coach: str
        starts_on: date
        ends_on: date

    class Extended(Event):
        TOPIC = "coaching.domain:Coaching.Extended"
        case_id: UUID
        ends_on: date
        reason: str
        extension_number: int

    class SessionHeld(Event):
        TOPIC = "coaching.domain:Coaching.SessionHeld"
        held_on: date

    class HouseholdMemberAdded(Event):
        TOPIC = "coaching.domain:Coaching.HouseholdMemberAdded"
        name: str
        relation: str

    class PartnerReferralRecorded(Event):
        TOPIC = "coaching.domain:Coaching.PartnerReferralRecorded"
        partner: str
        referred_on: date

    class Ended(Event):
        TOPIC = "coaching.domain:Coaching.Ended"
        case_id: UUID
        reason: str
        ended_on: date
        sessions_held: int

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

    def extending_provider(self, *, by_team_lead: bool) -> UUID:
        """The provider whose contract terms an extension follows: only a team lead
        extends, and only an active coaching (which has its provider)."""
        if not by_team_lead:
            raise ExtensionNeedsTeamLeadError("only a team lead extends a coaching")
        self.check_is_active()
        assert self.provider_id is not None
        return self.provider_id

    # commands

    def assign_coach(self, *, provider: Provider, coach: Coach, starts_on: date) -> None:
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
    ) -> None:
        """One more term, decided by a team lead, within the contract's maximum."""
        self.extending_provider(by_team_lead=by_team_lead)
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
        )

    @event(Extended)
    def _extended(
        self, *, case_id: UUID, ends_on: date, reason: str, extension_number: int
    ) -> None:
        self.ends_on = ends_on
        self.extensions = extension_number

    def record_session(self, *, held_on: date, today: date) -> None:
        """A fact only: that a session took place, and when."""
        self.check_is_active()
        self.check_in_term("held_on", held_on, today)
        self._session_held(held_on=held_on)

    @event(SessionHeld)
    def _session_held(self, *, held_on: date) -> None:
        self.sessions_held += 1

    def add_household_member(self, *, name: str, relation: HouseholdRelation) -> None:
        """§16k: the coaching can include the household (``name`` is sealed)."""
        self.check_not_ended()
        self._household_member_added(name=name, relation=relation.value)

    @event(HouseholdMemberAdded)
    def _household_member_added(self, *, name: str, relation: str) -> None:
        pass

    def record_partner_referral(
        self, *, partner: PartnerKind, referred_on: date, today: date
    ) -> None:
        """§16k: a referral to a partner agency (e.g. the youth office), as a fact."""
        self.check_not_ended()
        check_not_in_future("referred_on", referred_on, today)
        self._partner_referral_recorded(partner=partner.value, referred_on=referred_on)

    @event(PartnerReferralRecorded)
    def _partner_referral_recorded(self, *, partner: str, referred_on: date) -> None:
        pass

    def end(self, *, reason: CoachingEndReason, ended_on: date, today: date) -> None:
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
        )

    @event(Ended)
    def _ended(self, *, case_id: UUID, reason: str, ended_on: date, sessions_held: int) -> None:
        self.status = CoachingStatus.ENDED
