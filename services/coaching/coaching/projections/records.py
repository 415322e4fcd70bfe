"""Every coaching (``coaching_record``, following the service's own event log): a provider's
caseload, the coachings whose end is near (an extension decision is due), the open requests
of a district, a person's history. Nothing is stored about what was said in a coaching, and
nothing marks a person who declined."""

from __future__ import annotations

from datetime import date, timedelta
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from coaching.domain import Coaching, CoachingStatus
from coaching.projections import topics_of
from shared.eventsourcing.views import TrackedView


class CoachingRecordView(TrackedView):
    schema = (
        """CREATE TABLE IF NOT EXISTS coaching_record (
            coaching_id uuid PRIMARY KEY,
            case_id uuid NOT NULL,
            subject_id uuid NOT NULL,
            district text NOT NULL,
            source text NOT NULL,
            status text NOT NULL,
            needs jsonb NOT NULL,
            shared_fields jsonb NOT NULL,
            requested_on date NOT NULL,
            requested_by text NOT NULL,
            provider_id uuid,
            provider_name text,
            coach text,
            starts_on date,
            ends_on date,
            extensions int NOT NULL DEFAULT 0,
            sessions_held int NOT NULL DEFAULT 0,
            last_session_on date,
            household jsonb NOT NULL DEFAULT '[]',
            partner_referrals jsonb NOT NULL DEFAULT '[]',
            ended_reason text,
            ended_on date
        )""",
        "CREATE INDEX IF NOT EXISTS coaching_record_subject ON coaching_record (subject_id)",
        "CREATE INDEX IF NOT EXISTS coaching_record_provider ON coaching_record (provider_id)",
        "CREATE INDEX IF NOT EXISTS coaching_record_due ON coaching_record (status, ends_on)",
    )

    def coaching(self, coaching_id: UUID) -> DictRow | None:
        rows = self.query("SELECT * FROM coaching_record WHERE coaching_id = %s", (coaching_id,))
        return rows[0] if rows else None

    def history(self, subject_id: UUID) -> list[DictRow]:
        """Every coaching of one person, oldest first."""
        return self.query(
            "SELECT * FROM coaching_record WHERE subject_id = %s "
            "ORDER BY requested_on, coaching_id",
            (subject_id,),
        )

    def in_district(self, district: str, status: str | None) -> list[DictRow]:
        return self.query(
            "SELECT * FROM coaching_record WHERE district = %(district)s "
            "AND (%(status)s::text IS NULL OR status = %(status)s) "
            "ORDER BY requested_on, coaching_id",
            {"district": district, "status": status},
        )

    def ending_within(self, district: str, today: date, days: int) -> list[DictRow]:
        """Active coachings that end within ``days``: an extension decision is due."""
        return self.query(
            "SELECT * FROM coaching_record WHERE district = %(district)s "
            "AND status = 'active' AND ends_on >= %(today)s AND ends_on <= %(until)s "
            "ORDER BY ends_on, coaching_id",
            {"district": district, "today": today, "until": today + timedelta(days=days)},
        )

    def of_provider(self, provider_id: UUID, status: str | None = None) -> list[DictRow]:
        return self.query(
            "SELECT * FROM coaching_record WHERE provider_id = %(provider_id)s "
            "AND (%(status)s::text IS NULL OR status = %(status)s) "
            "ORDER BY ends_on, coaching_id",
            {"provider_id": provider_id, "status": status},
        )


class CoachingRecordProjection(Projection[CoachingRecordView]):
    name = "coaching_record"
    topics = topics_of(
        Coaching.Requested,
        Coaching.CoachAssigned,
        Coaching.Extended,
        Coaching.SessionHeld,
        Coaching.HouseholdMemberAdded,
        Coaching.PartnerReferralRecorded,
        Coaching.Ended,
    )

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    def _update(self, e: Any, tracking: Tracking, assignments: str, **params: Any) -> None:
        self.view.execute(
            tracking,
            f"UPDATE coaching_record SET {assignments} WHERE coaching_id = %(coaching_id)s",
            {**params, "coaching_id": e.originator_id},
        )

    @process_event.register
    def _(self, e: Coaching.Requested, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO coaching_record (coaching_id, case_id, subject_id, district, "
            "source, status, needs, shared_fields, requested_on, requested_by) VALUES "
            "(%(coaching_id)s, %(case_id)s, %(subject_id)s, %(district)s, %(source)s, "
            "'requested', %(needs)s, %(shared_fields)s, %(requested_on)s, "
            "%(requested_by)s) ON CONFLICT DO NOTHING",
            {
                "coaching_id": e.originator_id,
                "case_id": e.case_id,
                "subject_id": e.subject_id,
                "district": e.district,
                "source": e.source,
                "needs": Jsonb(e.needs),
                "shared_fields": Jsonb(e.shared_fields),
                "requested_on": e.requested_on,
                "requested_by": e.meta.get("actor", "system"),
            },
        )

    @process_event.register
    def _(self, e: Coaching.CoachAssigned, tracking: Tracking) -> None:
        self._update(
            e,
            tracking,
            "status = 'active', provider_id = %(provider_id)s, provider_name = %(provider_name)s,"
            " coach = %(coach)s, starts_on = %(starts_on)s, ends_on = %(ends_on)s",
            provider_id=e.provider_id,
            provider_name=e.provider_name,
            coach=e.coach,
            starts_on=e.starts_on,
            ends_on=e.ends_on,
        )

    @process_event.register
    def _(self, e: Coaching.Extended, tracking: Tracking) -> None:
        self._update(
            e,
            tracking,
            "ends_on = %(ends_on)s, extensions = %(extensions)s",
            ends_on=e.ends_on,
            extensions=e.extension_number,
        )

    @process_event.register
    def _(self, e: Coaching.SessionHeld, tracking: Tracking) -> None:
        self._update(
            e,
            tracking,
            "sessions_held = sessions_held + 1, "
            "last_session_on = greatest(last_session_on, %(held_on)s)",
            held_on=e.held_on,
        )

    @process_event.register
    def _(self, e: Coaching.HouseholdMemberAdded, tracking: Tracking) -> None:
        self._update(
            e,
            tracking,
            "household = household || %(member)s",
            member=Jsonb([{"name_token": e.name, "relation": e.relation}]),
        )

    @process_event.register
    def _(self, e: Coaching.PartnerReferralRecorded, tracking: Tracking) -> None:
        self._update(
            e,
            tracking,
            "partner_referrals = partner_referrals || %(referral)s",
            referral=Jsonb([{"partner": e.partner, "referred_on": e.referred_on.isoformat()}]),
        )

    @process_event.register
    def _(self, e: Coaching.Ended, tracking: Tracking) -> None:
        self._update(
            e,
            tracking,
            f"status = '{CoachingStatus.ENDED.value}', ended_reason = %(reason)s, "
            "ended_on = %(ended_on)s",
            reason=e.reason,
            ended_on=e.ended_on,
        )
