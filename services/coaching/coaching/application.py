"""The coaching application: commands get, call and save; errors become API errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Tracking

from coaching.domain import (
    CaseCoaching,
    Coach,
    CoachAtFullCaseloadError,
    Coaching,
    ContractTerms,
    HouseholdRelation,
    PartnerKind,
    Programme,
    Provider,
)
from shared.contracts.coaching import CoachingEndReason, CoachingSource, ExtensionReason
from shared.contracts.visits import Need
from shared.errors import ConflictError, ForbiddenError, NotFoundError
from shared.eventsourcing.application import ConcurrentChangeError, SealingApplication
from shared.eventsourcing.meta import CommandContext

A = TypeVar("A", bound=Aggregate)


class ProviderNotFoundError(NotFoundError):
    code = "provider_not_found"


class CoachNotFoundError(NotFoundError):
    code = "coach_not_found"


class CoachingNotFoundError(NotFoundError):
    code = "coaching_not_found"


class ProgrammeNotFoundError(NotFoundError):
    code = "programme_not_found"


class CoachAlreadyRegisteredError(ConflictError):
    code = "coach_already_registered"


class NotARegisteredCoachError(ForbiddenError):
    code = "not_a_registered_coach"


@dataclass(frozen=True)
class KnownCase:
    """An outreach case as the coaching service knows it (from the contacts events)."""

    case_id: UUID
    subject_id: UUID
    district: str


class Coachings(SealingApplication):
    name = "coaching"
    concurrent_change = "the coaching changed meanwhile; try again"

    # --- the registry -------------------------------------------------------------------

    def register_provider(
        self, *, name: str, districts: Sequence[str], terms: ContractTerms, ctx: CommandContext
    ) -> UUID:
        provider = Provider.register(
            provider_id=uuid4(), name=name, districts=districts, terms=terms, meta=ctx.as_meta()
        )
        self.save_or_conflict(provider)
        return provider.id

    def set_outreach_contract(
        self, provider_id: UUID, district: str, *, contracted: bool, ctx: CommandContext
    ) -> Provider:
        """Contract the provider to run the outreach in ``district``, or end that contract.
        Published (``ProviderOutreachContracted`` / ``...Ended``) with the provider's id in
        place of a person's pseudonym: the event is about an organisation, not a person."""
        provider = self.get_provider(provider_id)
        meta = ctx.meta_for(provider.id, district)
        changed = (
            provider.contract_outreach(district, meta)
            if contracted
            else provider.end_outreach_contract(district, meta)
        )
        if changed:
            self.save_or_conflict(provider)
        return provider

    def register_coach(
        self,
        provider_id: UUID,
        *,
        user: str,
        display_name: str,
        max_caseload: int,
        emergency_line: str,
        ctx: CommandContext,
    ) -> Coach:
        provider = self.get_provider(provider_id)
        if self.find(Coach, Coach.id_for(user)) is not None:
            raise CoachAlreadyRegisteredError(f"{user} is a registered coach already", coach=user)
        coach = Coach.register(
            user=user,
            provider=provider,
            display_name=display_name,
            max_caseload=max_caseload,
            emergency_line=emergency_line,
            meta=ctx.as_meta(),
        )
        try:
            self.save(coach, provider)
        except IntegrityError:
            raise CoachAlreadyRegisteredError(
                f"{user} is a registered coach already", coach=user
            ) from None
        return coach

    def get_provider(self, provider_id: UUID) -> Provider:
        return self.get(Provider, provider_id, ProviderNotFoundError("provider not found"))

    def coach_of_user(self, user: str) -> Coach:
        """The coach a ``provider_coach`` token's user id names (403 if none)."""
        coach = self.find(Coach, Coach.id_for(user))
        if coach is None:
            raise NotARegisteredCoachError(f"{user} is not a registered coach")
        return coach

    def get_coach(self, user: str) -> Coach:
        return self.get(Coach, Coach.id_for(user), CoachNotFoundError(f"coach {user} not found"))

    def coaches_with_capacity(self, provider: Provider) -> list[dict[str, Any]]:
        """The provider's coaches with a free place, most free places first."""
        coaches = [self.get_coach(user) for user in provider.coaches]
        free = [c for c in coaches if c.free_places > 0]
        free.sort(key=lambda c: (-c.free_places, c.user))
        return [
            {"coach": c.user, "display_name": c.display_name, "free_places": c.free_places}
            for c in free
        ]

    # --- coachings ----------------------------------------------------------------------

    def request_coaching(
        self,
        case: KnownCase,
        *,
        source: CoachingSource,
        needs: Sequence[Need],
        shared_fields: Sequence[str],
        ctx: CommandContext,
    ) -> UUID:
        coaching, index = self._new_request(case, source, needs, shared_fields, ctx)
        try:
            self.save(coaching, index)
        except IntegrityError:
            self._case_coaching(case.case_id).check_none_open()
            raise ConcurrentChangeError("the case changed meanwhile; try again") from None
        return coaching.id

    def request_coaching_after_referral(
        self,
        case: KnownCase,
        *,
        needs: Sequence[Need],
        tracking: Tracking,
        ctx: CommandContext,
    ) -> bool:
        """The effect of a consumed coaching referral, saved with the consumer's tracking.

        The person consented to the referral during the visit, whose purpose is the
        hand-over: their contact data and the needs identified go to the provider. A case
        with an open coaching keeps it; only the tracking is recorded.
        """
        index = self._case_coaching(case.case_id)
        if index.open_coaching_id is not None:
            return self.save_tracked(tracking)
        coaching, index = self._new_request(
            case, CoachingSource.VISIT_REFERRAL, needs, ("name", "address", "phone", "needs"), ctx
        )
        return self.save_tracked(tracking, coaching, index)

    def _new_request(
        self,
        case: KnownCase,
        source: CoachingSource,
        needs: Sequence[Need],
        shared_fields: Sequence[str],
        ctx: CommandContext,
    ) -> tuple[Coaching, CaseCoaching]:
        index = self._case_coaching(case.case_id)
        index.check_none_open()
        coaching = Coaching.request(
            coaching_id=uuid4(),
            case_id=case.case_id,
            subject_id=case.subject_id,
            district=case.district,
            source=source,
            needs=needs,
            shared_fields=shared_fields,
            today=self._today(),
            meta=ctx.meta_for(case.subject_id, case.district),
        )
        index.open(coaching.id)
        return coaching, index

    def assign_coach(
        self,
        coaching_id: UUID,
        *,
        provider_id: UUID,
        coach_user: str,
        starts_on: date | None,
        ctx: CommandContext,
    ) -> Coaching:
        coaching = self.get_coaching(coaching_id)
        provider = self.get_provider(provider_id)
        coach = self.get_coach(coach_user)
        meta = ctx.meta_for(coaching.subject_id, coaching.district)
        coaching.assign_coach(
            provider=provider, coach=coach, starts_on=starts_on or self._today(), meta=meta
        )
        try:
            coach.take_place(coaching.id, meta)
        except CoachAtFullCaseloadError as error:
            raise CoachAtFullCaseloadError(
                error.detail,
                **error.extra,
                coaches_with_capacity=self.coaches_with_capacity(provider),
            ) from None
        self.save_or_conflict(coaching, coach)
        return coaching

    def extend(
        self,
        coaching_id: UUID,
        *,
        reason: ExtensionReason,
        until: date | None,
        by_team_lead: bool,
        ctx: CommandContext,
    ) -> Coaching:
        coaching = self.get_coaching(coaching_id)
        terms = (
            self.get_provider(coaching.provider_id).terms
            if coaching.provider_id is not None
            else ContractTerms()
        )
        coaching.extend(
            terms=terms,
            reason=reason,
            until=until,
            by_team_lead=by_team_lead,
            meta=ctx.meta_for(coaching.subject_id, coaching.district),
        )
        self.save_or_conflict(coaching)
        return coaching

    def end(
        self,
        coaching_id: UUID,
        *,
        reason: CoachingEndReason,
        ended_on: date | None,
        ctx: CommandContext,
    ) -> Coaching:
        coaching = self.get_coaching(coaching_id)
        meta = ctx.meta_for(coaching.subject_id, coaching.district)
        coaching.end(
            reason=reason, ended_on=ended_on or self._today(), today=self._today(), meta=meta
        )
        changed: list[Aggregate] = [coaching]
        if coaching.coach is not None:
            coach = self.get_coach(coaching.coach)
            coach.release_place(coaching.id, meta)
            changed.append(coach)
        index = self._case_coaching(coaching.case_id)
        index.close(coaching.id)
        changed.append(index)
        self.save_or_conflict(*changed)
        return coaching

    def record_session(
        self, coaching_id: UUID, *, held_on: date | None, ctx: CommandContext
    ) -> Coaching:
        coaching = self.get_coaching(coaching_id)
        coaching.record_session(
            held_on=held_on or self._today(),
            today=self._today(),
            meta=ctx.meta_for(coaching.subject_id, coaching.district),
        )
        self.save_or_conflict(coaching)
        return coaching

    def add_household_member(
        self, coaching_id: UUID, *, name: str, relation: HouseholdRelation, ctx: CommandContext
    ) -> Coaching:
        coaching = self.get_coaching(coaching_id)
        coaching.add_household_member(
            # Sealed with the person's own key: erasing the person erases their household too.
            name=self.cipher.seal(coaching.subject_id, name),
            relation=relation,
            meta=ctx.meta_for(coaching.subject_id, coaching.district),
        )
        self.save_or_conflict(coaching)
        return coaching

    def record_partner_referral(
        self,
        coaching_id: UUID,
        *,
        partner: PartnerKind,
        referred_on: date | None,
        ctx: CommandContext,
    ) -> Coaching:
        coaching = self.get_coaching(coaching_id)
        coaching.record_partner_referral(
            partner=partner,
            referred_on=referred_on or self._today(),
            today=self._today(),
            meta=ctx.meta_for(coaching.subject_id, coaching.district),
        )
        self.save_or_conflict(coaching)
        return coaching

    def get_coaching(self, coaching_id: UUID) -> Coaching:
        return self.get(
            Coaching, coaching_id, CoachingNotFoundError(f"coaching {coaching_id} not found")
        )

    # --- group programmes ---------------------------------------------------------------

    def plan_programme(
        self,
        *,
        district: str,
        local_office: str,
        title: str,
        target_group: str,
        dates: Sequence[date],
        capacity: int,
        open_to_neighbouring: bool,
        mobile: bool,
        ctx: CommandContext,
    ) -> UUID:
        programme = Programme.plan(
            programme_id=uuid4(),
            district=district,
            local_office=local_office,
            title=title,
            target_group=target_group,
            dates=dates,
            capacity=capacity,
            open_to_neighbouring=open_to_neighbouring,
            mobile=mobile,
            meta=ctx.meta_for(None, district),
        )
        self.save_or_conflict(programme)
        return programme.id

    def enrol(self, programme_id: UUID, case: KnownCase, *, ctx: CommandContext) -> Programme:
        programme = self.get_programme(programme_id)
        programme.enrol(
            case_id=case.case_id,
            subject_id=case.subject_id,
            participant_district=case.district,
            today=self._today(),
            meta=ctx.meta_for(case.subject_id, programme.district),
        )
        self.save_or_conflict(programme)
        return programme

    def record_attendance(
        self,
        programme_id: UUID,
        *,
        case_id: UUID,
        session_on: date,
        present: bool,
        ctx: CommandContext,
    ) -> Programme:
        programme = self.get_programme(programme_id)
        programme.record_attendance(
            case_id=case_id,
            session_on=session_on,
            present=present,
            today=self._today(),
            meta=ctx.meta_for(None, programme.district),
        )
        self.save_or_conflict(programme)
        return programme

    def complete_participation(
        self, programme_id: UUID, *, case_id: UUID, completed_on: date | None, ctx: CommandContext
    ) -> Programme:
        programme = self.get_programme(programme_id)
        programme.complete(
            case_id=case_id,
            completed_on=completed_on or self._today(),
            today=self._today(),
            meta=ctx.meta_for(None, programme.district),
        )
        self.save_or_conflict(programme)
        return programme

    def get_programme(self, programme_id: UUID) -> Programme:
        return self.get(Programme, programme_id, ProgrammeNotFoundError("programme not found"))

    # --- helpers ------------------------------------------------------------------------

    def _case_coaching(self, case_id: UUID) -> CaseCoaching:
        found = self.find(CaseCoaching, CaseCoaching.id_for(case_id))
        return found if found is not None else CaseCoaching.start(case_id)
