"""The visits application: commands get, call and save; errors become API errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.utils import EnvType

from shared.contracts.visits import (
    MeetingPlace,
    Need,
    NextStep,
    VisitCancelledReason,
    VisitOutcome,
    VisitPurpose,
)
from shared.errors import ConflictError, NotFoundError
from shared.eventstore import CommandContext, SealingApplication
from shared.privacy import DataCategory, PersonalDataCipher
from visits.domain import CaseVisits, Schedule, Visit, VisitRules


class VisitNotFoundError(NotFoundError):
    code = "visit_not_found"


class ConcurrentChangeError(ConflictError):
    code = "concurrent_change"


@dataclass(frozen=True)
class PlannedCase:
    """A person on the planning board: what an announcement letter is addressed with."""

    case_id: UUID
    subject_id: UUID
    district: str
    name: str
    """Sealed name token (from ``ContactLost``)."""
    address: str
    """Sealed address token."""


class Visits(SealingApplication):
    name = "visits"

    def __init__(
        self,
        env: EnvType | None = None,
        *,
        cipher: PersonalDataCipher | None = None,
        rules: VisitRules | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        super().__init__(env, cipher=cipher, today=today)
        self.rules = rules or VisitRules()

    def announce(
        self,
        *,
        case: PlannedCase,
        workers: Sequence[str],
        schedule: Schedule,
        purpose: VisitPurpose,
        place: MeetingPlace,
        place_description: str | None,
        announced_on: date | None,
        ctx: CommandContext,
    ) -> UUID:
        today = self._today()
        visit = Visit.announce(
            visit_id=uuid4(),
            case_id=case.case_id,
            subject_id=case.subject_id,
            district=case.district,
            workers=workers,
            schedule=schedule,
            purpose=purpose,
            place=place,
            place_description=self.cipher.seal_optional(case.subject_id, place_description),
            announced_on=announced_on or today,
            name=case.name,
            address=case.address,
            today=today,
            rules=self.rules,
            meta=self._meta(ctx, case.subject_id, case.district),
        )
        index = self._case_visits(case.case_id) or CaseVisits.start(case.case_id)
        index.open(visit.id)
        self._save(visit, index)
        return visit.id

    def reschedule(
        self,
        visit_id: UUID,
        *,
        schedule: Schedule,
        announced_on: date | None,
        ctx: CommandContext,
        expected_version: int | None = None,
    ) -> Visit:
        visit = self.get_visit(visit_id, expected_version)
        today = self._today()
        visit.reschedule(
            schedule=schedule,
            announced_on=announced_on or today,
            today=today,
            rules=self.rules,
            meta=self._meta(ctx, visit.subject_id, visit.district),
        )
        self._save(visit)
        return visit

    def cancel(
        self,
        visit_id: UUID,
        *,
        reason: VisitCancelledReason,
        ctx: CommandContext,
        expected_version: int | None = None,
    ) -> Visit:
        visit = self.get_visit(visit_id, expected_version)
        index = self._cancel(visit, reason, ctx)
        self._save(visit, index)
        return visit

    def complete(
        self,
        visit_id: UUID,
        *,
        outcome: VisitOutcome,
        needs: Sequence[Need],
        note: str | None,
        coaching_referral_consent: bool,
        next_step: NextStep,
        completed_on: date | None,
        is_team_lead: bool,
        ctx: CommandContext,
        expected_version: int | None = None,
    ) -> Visit:
        visit = self.get_visit(visit_id, expected_version)
        visit.check_may_record_outcome(ctx.actor, is_team_lead=is_team_lead)
        index = self._case_visits(visit.case_id) or CaseVisits.start(visit.case_id)
        today = self._today()
        visit.complete(
            outcome=outcome,
            needs=needs,
            # The note has a key of its own: retention erases it before the case record
            # (shared/retention.py, category ``visit_notes``).
            note=self.cipher.seal_optional(visit.subject_id, note, DataCategory.VISIT_NOTE),
            coaching_referral_consent=coaching_referral_consent,
            next_step=next_step,
            completed_on=completed_on or today,
            attempt_number=index.next_attempt_number,
            today=today,
            meta=self._meta(ctx, visit.subject_id, visit.district),
        )
        index.close(visit.id, completed=True)
        self._save(visit, index)
        return visit

    def cancel_pending_visit(
        self,
        case_id: UUID,
        *,
        reason: VisitCancelledReason,
        tracking: Tracking,
        ctx: CommandContext,
    ) -> bool:
        """The effect of a consumed event: cancel the case's announced visit, if any.

        Saved with the consumer's tracking record in one transaction, so a redelivered event
        changes nothing (``False``); with no visit pending only the tracking is recorded.
        """
        index = self._case_visits(case_id)
        if index is None or index.pending_visit_id is None:
            return self.save_tracked(tracking)
        visit = self.get_visit(index.pending_visit_id)
        self._cancel(visit, reason, ctx, index)
        return self.save_tracked(tracking, visit, index)

    def get_visit(self, visit_id: UUID, expected_version: int | None = None) -> Visit:
        """The visit; with ``expected_version``, only if that is its current version
        (``VisitChangedError`` naming what changed since, otherwise)."""
        visit = self._visit_at(visit_id)
        if visit is None:
            raise VisitNotFoundError(f"visit {visit_id} not found")
        if expected_version is not None and expected_version != visit.version:
            seen = (
                self._visit_at(visit_id, expected_version)
                if 0 < expected_version < visit.version
                else None
            )
            visit.check_version(expected_version, seen)
        return visit

    def _visit_at(self, visit_id: UUID, version: int | None = None) -> Visit | None:
        try:
            visit: Any = self.repository.get(visit_id, version=version)
        except AggregateNotFoundError:
            return None
        return visit if isinstance(visit, Visit) else None

    def pending_visit_id(self, case_id: UUID) -> UUID | None:
        index = self._case_visits(case_id)
        return None if index is None else index.pending_visit_id

    def _cancel(
        self,
        visit: Visit,
        reason: VisitCancelledReason,
        ctx: CommandContext,
        index: CaseVisits | None = None,
    ) -> CaseVisits | None:
        visit.cancel(
            reason=reason,
            today=self._today(),
            meta=self._meta(ctx, visit.subject_id, visit.district),
        )
        index = index or self._case_visits(visit.case_id)
        if index is not None:
            index.close(visit.id, completed=False)
        return index

    def _case_visits(self, case_id: UUID) -> CaseVisits | None:
        try:
            found: Any = self.repository.get(CaseVisits.id_for(case_id))
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, CaseVisits) else None

    def _save(self, *aggregates: Any) -> None:
        try:
            self.save(*(a for a in aggregates if a is not None))
        except IntegrityError:
            raise ConcurrentChangeError("the visit changed meanwhile; try again") from None

    @staticmethod
    def _meta(ctx: CommandContext, subject_id: UUID, district: str) -> dict[str, Any]:
        return {**ctx.as_meta(), "subject": str(subject_id), "district": district}
