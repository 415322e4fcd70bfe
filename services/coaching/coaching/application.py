"""The coaching application: each command gets the aggregates, calls them, saves them.

Who asks is the command's context (set per request or consumed message); each command says
whose data it concerns (:func:`~shared.eventsourcing.meta.concerning`), so every event
records both in its ``meta``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Tracking

from coaching.domain import (
    HANDOVER_FIELDS,
    CaseCoaching,
    Coach,
    CoachAlreadyRegisteredError,
    CoachAtFullCaseloadError,
    Coaching,
    CoachingNotFoundError,
    CoachNotFoundError,
    ContractTerms,
    HouseholdRelation,
    KnownCase,
    NotARegisteredCoachError,
    PartnerKind,
    Programme,
    ProgrammeNotFoundError,
    Provider,
    ProviderNotFoundError,
)
from shared.contracts.coaching import CoachingEndReason, CoachingSource, ExtensionReason
from shared.contracts.visits import Need
from shared.eventsourcing.application import ConcurrentChangeError, SealingApplication
from shared.eventsourcing.meta import concerning


class Coachings(SealingApplication):
    name = "coaching"
    concurrent_change = "the coaching changed meanwhile; try again"

    # --- the registry -------------------------------------------------------------------

    def register_provider(
        self, *, name: str, districts: Sequence[str], terms: ContractTerms
    ) -> UUID:
        provider = Provider.register(
            provider_id=uuid4(), name=name, districts=districts, terms=terms
        )
        self.save_or_conflict(provider)
        return provider.id

    def set_outreach_contract(
        self, provider_id: UUID, district: str, *, contracted: bool
    ) -> Provider:
        """Contract the provider to run the outreach in ``district``, or end that contract.
        Published (``ProviderOutreachContracted`` / ``...Ended``) with the provider's id in
        place of a person's pseudonym: the event is about an organisation, not a person."""
        provider = self.get_provider(provider_id)
        with concerning(provider.id, district):
            changed = (
                provider.contract_outreach(district)
                if contracted
                else provider.end_outreach_contract(district)
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
    ) -> Coach:
        provider = self.get_provider(provider_id)
        already = CoachAlreadyRegisteredError(f"{user} is a registered coach already", coach=user)
        if self.find(Coach, Coach.id_for(user)) is not None:
            raise already
        coach = Coach.register(
            user=user,
            provider=provider,
            display_name=display_name,
            max_caseload=max_caseload,
            emergency_line=emergency_line,
        )
        try:
            self.save(coach, provider)
        except IntegrityError:
            raise already from None
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
        self, case: KnownCase, *, needs: Sequence[Need], shared_fields: Sequence[str]
    ) -> UUID:
        """A case manager's (or team lead's) request: the case must be open, and have no
        open coaching; the person consented to share ``shared_fields``."""
        case.check_open()
        coaching, index = self._new_request(case, CoachingSource.CASE_MANAGER, needs, shared_fields)
        try:
            self.save(coaching, index)
        except IntegrityError:
            self._case_coaching(case.case_id).check_none_open()
            raise ConcurrentChangeError("the case changed meanwhile; try again") from None
        return coaching.id

    def request_coaching_after_referral(
        self, case: KnownCase, *, referred: bool, needs: Sequence[Need], tracking: Tracking
    ) -> bool:
        """The effect of a completed visit, saved with the consumer's tracking record.

        ``referred``: the person consented to a coaching referral during the visit, whose
        purpose is the hand-over: their contact data and the needs identified go to the
        provider. Without it, and for a case with an open coaching (which keeps it), only
        the tracking is recorded.
        """
        if not referred or self._case_coaching(case.case_id).open_coaching_id is not None:
            return self.save_tracked(tracking)
        coaching, index = self._new_request(
            case, CoachingSource.VISIT_REFERRAL, needs, HANDOVER_FIELDS
        )
        return self.save_tracked(tracking, coaching, index)

    def _new_request(
        self,
        case: KnownCase,
        source: CoachingSource,
        needs: Sequence[Need],
        shared_fields: Sequence[str],
    ) -> tuple[Coaching, CaseCoaching]:
        index = self._case_coaching(case.case_id)
        index.check_none_open()
        with concerning(case.subject_id, case.district):
            coaching = Coaching.request(
                coaching_id=uuid4(),
                case_id=case.case_id,
                subject_id=case.subject_id,
                district=case.district,
                source=source,
                needs=needs,
                shared_fields=shared_fields,
                today=self._today(),
            )
        index.open(coaching.id)
        return coaching, index

    def assign_coach(
        self, coaching_id: UUID, *, provider_id: UUID, coach_user: str, starts_on: date | None
    ) -> Coaching:
        coaching = self.get_coaching(coaching_id)
        provider = self.get_provider(provider_id)
        coach = self.get_coach(coach_user)
        with concerning(coaching.subject_id, coaching.district):
            coaching.assign_coach(
                provider=provider, coach=coach, starts_on=starts_on or self._today()
            )
            try:
                coach.take_place(coaching.id)
            except CoachAtFullCaseloadError as error:
                raise CoachAtFullCaseloadError(
                    error.detail,
                    **error.extra,
                    coaches_with_capacity=self.coaches_with_capacity(provider),
                ) from None
        self.save_or_conflict(coaching, coach)
        return coaching

    def extend(
        self, coaching_id: UUID, *, reason: ExtensionReason, until: date | None, by_team_lead: bool
    ) -> Coaching:
        coaching = self.get_coaching(coaching_id)
        provider = self.get_provider(coaching.extending_provider(by_team_lead=by_team_lead))
        with concerning(coaching.subject_id, coaching.district):
            coaching.extend(
                terms=provider.terms, reason=reason, until=until, by_team_lead=by_team_lead
            )
        self.save_or_conflict(coaching)
        return coaching

    def end(
        self, coaching_id: UUID, *, reason: CoachingEndReason, ended_on: date | None
    ) -> Coaching:
        coaching = self.get_coaching(coaching_id)
        changed: list[Aggregate] = [coaching]
        with concerning(coaching.subject_id, coaching.district):
            coaching.end(reason=reason, ended_on=ended_on or self._today(), today=self._today())
            if coaching.coach is not None:
                coach = self.get_coach(coaching.coach)
                coach.release_place(coaching.id)
                changed.append(coach)
        index = self._case_coaching(coaching.case_id)
        index.close(coaching.id)
        self.save_or_conflict(*changed, index)
        return coaching

    def record_session(self, coaching_id: UUID, *, held_on: date | None) -> Coaching:
        coaching = self.get_coaching(coaching_id)
        with concerning(coaching.subject_id, coaching.district):
            coaching.record_session(held_on=held_on or self._today(), today=self._today())
        self.save_or_conflict(coaching)
        return coaching

    def add_household_member(
        self, coaching_id: UUID, *, name: str, relation: HouseholdRelation
    ) -> Coaching:
        coaching = self.get_coaching(coaching_id)
        with concerning(coaching.subject_id, coaching.district):
            coaching.add_household_member(
                # Sealed with the person's own key: erasing the person erases their household.
                name=self.cipher.seal(coaching.subject_id, name),
                relation=relation,
            )
        self.save_or_conflict(coaching)
        return coaching

    def record_partner_referral(
        self, coaching_id: UUID, *, partner: PartnerKind, referred_on: date | None
    ) -> Coaching:
        coaching = self.get_coaching(coaching_id)
        with concerning(coaching.subject_id, coaching.district):
            coaching.record_partner_referral(
                partner=partner, referred_on=referred_on or self._today(), today=self._today()
            )
        self.save_or_conflict(coaching)
        return coaching

    def get_coaching(self, coaching_id: UUID) -> Coaching:
        missing = CoachingNotFoundError(f"coaching {coaching_id} not found")
        return self.get(Coaching, coaching_id, missing)

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
    ) -> UUID:
        with concerning(None, district):
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
            )
        self.save_or_conflict(programme)
        return programme.id

    def enrol(self, programme_id: UUID, case: KnownCase) -> Programme:
        programme = self.get_programme(programme_id)
        with concerning(case.subject_id, programme.district):
            programme.enrol(
                case_id=case.case_id,
                subject_id=case.subject_id,
                participant_district=case.district,
                today=self._today(),
            )
        self.save_or_conflict(programme)
        return programme

    def record_attendance(
        self, programme_id: UUID, *, case_id: UUID, session_on: date, present: bool
    ) -> Programme:
        programme = self.get_programme(programme_id)
        with concerning(None, programme.district):
            programme.record_attendance(
                case_id=case_id, session_on=session_on, present=present, today=self._today()
            )
        self.save_or_conflict(programme)
        return programme

    def complete_participation(
        self, programme_id: UUID, *, case_id: UUID, completed_on: date | None
    ) -> Programme:
        programme = self.get_programme(programme_id)
        with concerning(programme.subjects.get(case_id), programme.district):
            programme.complete(
                case_id=case_id, completed_on=completed_on or self._today(), today=self._today()
            )
        self.save_or_conflict(programme)
        return programme

    def get_programme(self, programme_id: UUID) -> Programme:
        return self.get(Programme, programme_id, ProgrammeNotFoundError("programme not found"))

    def _case_coaching(self, case_id: UUID) -> CaseCoaching:
        """The case's coaching index (started with its first request)."""
        return self.find(CaseCoaching, CaseCoaching.id_for(case_id)) or CaseCoaching.start(case_id)
