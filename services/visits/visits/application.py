"""The visits application: each command gets the aggregates, calls them, saves them.

Who asks is the command's context (set per request or consumed message); each command says
whose data it concerns (:func:`~shared.eventsourcing.meta.concerning`), so every event
records both in its ``meta``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID, uuid4

from eventsourcing.persistence import Tracking
from eventsourcing.utils import EnvType

from shared.contracts.visits import (
    MeetingPlace,
    Need,
    NextStep,
    VisitCancelledReason,
    VisitOutcome,
    VisitPurpose,
)
from shared.eventsourcing.application import SealingApplication
from shared.eventsourcing.meta import command_context, concerning
from shared.privacy import DataCategory, PersonalDataCipher
from visits.domain import (
    CalendarFeed,
    CalendarLinkNotFoundError,
    CaseVisits,
    Schedule,
    Visit,
    VisitNotFoundError,
    VisitRules,
    secret_digest,
)
from visits.domain.calendar_feed import SECRET_BYTES


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
    concurrent_change = "the visit changed meanwhile; try again"

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
    ) -> UUID:
        today = self._today()
        with concerning(case.subject_id, case.district):
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
            )
        index = self._case_visits(visit.case_id)
        index.open(visit.id)
        self.save_or_conflict(visit, index)
        return visit.id

    def reschedule(
        self,
        visit_id: UUID,
        *,
        schedule: Schedule,
        announced_on: date | None,
        expected_version: int | None = None,
    ) -> Visit:
        visit = self.get_visit(visit_id, expected_version)
        today = self._today()
        with concerning(visit.subject_id, visit.district):
            visit.reschedule(
                schedule=schedule, announced_on=announced_on or today, today=today, rules=self.rules
            )
        self.save_or_conflict(visit)
        return visit

    def cancel(
        self, visit_id: UUID, *, reason: VisitCancelledReason, expected_version: int | None = None
    ) -> Visit:
        visit = self.get_visit(visit_id, expected_version)
        index = self._cancel(visit, reason)
        self.save_or_conflict(visit, index)
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
        expected_version: int | None = None,
    ) -> Visit:
        visit = self.get_visit(visit_id, expected_version)
        visit.check_may_record_outcome(command_context().actor, is_team_lead=is_team_lead)
        index = self._case_visits(visit.case_id)
        today = self._today()
        with concerning(visit.subject_id, visit.district):
            visit.complete(
                outcome=outcome,
                needs=needs,
                # The note has a key of its own: retention erases it before the case record
                # (contacts/retention.py, category ``visit_notes``).
                note=self.cipher.seal_optional(visit.subject_id, note, DataCategory.VISIT_NOTE),
                coaching_referral_consent=coaching_referral_consent,
                next_step=next_step,
                completed_on=completed_on or today,
                attempt_number=index.next_attempt_number,
                today=today,
            )
        index.close(visit.id, completed=True)
        self.save_or_conflict(visit, index)
        return visit

    def cancel_pending_visit(
        self, case_id: UUID, *, reason: VisitCancelledReason, tracking: Tracking
    ) -> bool:
        """The effect of a consumed event: cancel the case's announced visit, if any.

        Saved with the consumer's tracking record in one transaction, so a redelivered event
        changes nothing (``False``); with no visit pending only the tracking is recorded.
        """
        index = self.find(CaseVisits, CaseVisits.id_for(case_id))
        if index is None or index.pending_visit_id is None:
            return self.save_tracked(tracking)
        visit = self.get_visit(index.pending_visit_id)
        self._cancel(visit, reason, index)
        return self.save_tracked(tracking, visit, index)

    def get_visit(self, visit_id: UUID, expected_version: int | None = None) -> Visit:
        """The visit; with ``expected_version``, only if that is its current version
        (``VisitChangedError`` naming what changed since, otherwise)."""
        visit = self.get(Visit, visit_id, VisitNotFoundError(f"visit {visit_id} not found"))
        if expected_version is not None and expected_version != visit.version:
            seen = (
                self.find(Visit, visit_id, version=expected_version)
                if 0 < expected_version < visit.version
                else None
            )
            visit.check_version(expected_version, seen)
        return visit

    def version_of(self, visit_id: UUID) -> int:
        """The visit's current version (a command's ``expected_version``)."""
        return self.get_visit(visit_id).version

    def create_calendar_feed(
        self, *, owner: str, role: str, districts: Collection[str]
    ) -> tuple[UUID, str]:
        """A new calendar link of ``owner``: its id and its secret (returned once, stored
        only as its digest)."""
        secret = secrets.token_urlsafe(SECRET_BYTES)
        digest = secret_digest(secret)
        assert digest is not None  # token_urlsafe draws the shape secret_digest takes
        feed = CalendarFeed.create(owner=owner, role=role, districts=districts, digest=digest)
        self.save_or_conflict(feed)
        return feed.id, secret

    def open_calendar_feed(self, secret: str) -> CalendarFeed:
        """The link of ``secret``, read from the event store (a revocation counts at once);
        an unknown, revoked or malformed secret gets one answer."""
        digest = secret_digest(secret)
        feed = None if digest is None else self.find(CalendarFeed, CalendarFeed.id_for(digest))
        if feed is None or digest is None or not feed.is_open_to(digest):
            raise CalendarLinkNotFoundError("calendar link not found")
        return feed

    def revoke_calendar_feed(
        self, feed_id: UUID, *, by: str, team_lead_of: Collection[str]
    ) -> CalendarFeed:
        """Revoked by its owner or a team lead of one of its districts (``team_lead_of``: the
        districts the user leads; empty for anyone else)."""
        missing = CalendarLinkNotFoundError(f"calendar link {feed_id} not found")
        feed = self.get(CalendarFeed, feed_id, missing)
        feed.revoke(by=by, team_lead_of=sorted(team_lead_of))
        self.save_or_conflict(feed)
        return feed

    def pending_visit_id(self, case_id: UUID) -> UUID | None:
        index = self.find(CaseVisits, CaseVisits.id_for(case_id))
        return None if index is None else index.pending_visit_id

    def _cancel(
        self, visit: Visit, reason: VisitCancelledReason, index: CaseVisits | None = None
    ) -> CaseVisits | None:
        with concerning(visit.subject_id, visit.district):
            visit.cancel(reason=reason, today=self._today())
        index = index or self.find(CaseVisits, CaseVisits.id_for(visit.case_id))
        if index is not None:
            index.close(visit.id, completed=False)
        return index

    def _case_visits(self, case_id: UUID) -> CaseVisits:
        """The case's visit index (started with its first visit)."""
        return self.find(CaseVisits, CaseVisits.id_for(case_id)) or CaseVisits.start(case_id)
