"""Views of the coaching service.

Following the service's own event log (rows and tracking in one transaction):

- the registry (``coaching_registry``): providers, their coaches, caseload and free places;
- every coaching (``coaching_record``): a provider's caseload, the coachings whose end is
  near (extension decision due), the open requests of a district, a person's history;
- the group programmes (``programme_roster``): rosters and attendance.

Fed by a Kafka consumer (``coaching.consumers``):

- the case directory (``case_directory``): who a case is, from the contacts events — the
  sealed contact data the hand-over packet opens for the provider's coach.

Personal fields stay sealed in the rows; the API opens them for authorised readers. Nothing
is stored about what was said in a coaching, and nothing marks a person who declined.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from coaching.domain import Coach, Coaching, CoachingStatus, Programme, Provider
from shared.contracts import Envelope, Payload
from shared.contracts.contacts import ContactDetailsUpdated, ContactLost, OutreachCaseClosed
from shared.erasure import Forget, blank_tokens, forget_all
from shared.eventsourcing.views import TrackedView
from shared.privacy import ERASED


def _topics(aggregate: type[Any], *names: str) -> tuple[str, ...]:
    return tuple(f"coaching.domain:{aggregate.__name__}.{name}" for name in names)


# --- the registry -------------------------------------------------------------------------


class RegistryView(TrackedView):
    schema = (
        """CREATE TABLE IF NOT EXISTS coaching_providers (
            provider_id uuid PRIMARY KEY,
            name text NOT NULL,
            districts jsonb NOT NULL,
            initial_months int NOT NULL,
            extension_months int NOT NULL,
            max_extensions int NOT NULL,
            outreach_districts jsonb NOT NULL DEFAULT '[]'
        )""",
        # views created before providers could run the outreach themselves
        "ALTER TABLE coaching_providers "
        "ADD COLUMN IF NOT EXISTS outreach_districts jsonb NOT NULL DEFAULT '[]'",
        """CREATE TABLE IF NOT EXISTS coaching_coaches (
            coach text PRIMARY KEY,
            coach_id uuid NOT NULL UNIQUE,
            provider_id uuid NOT NULL,
            display_name text NOT NULL,
            max_caseload int NOT NULL,
            emergency_line text NOT NULL,
            caseload int NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX IF NOT EXISTS coaching_coaches_provider ON coaching_coaches (provider_id)",
    )

    def providers(self, district: str) -> list[DictRow]:
        return self.query(
            "SELECT * FROM coaching_providers WHERE districts ? %s ORDER BY name, provider_id",
            (district,),
        )

    def provider(self, provider_id: UUID) -> DictRow | None:
        rows = self.query("SELECT * FROM coaching_providers WHERE provider_id = %s", (provider_id,))
        return rows[0] if rows else None

    def coaches(self, provider_id: UUID) -> list[DictRow]:
        """The provider's coaches with their caseload and free places."""
        return self.query(
            "SELECT *, greatest(max_caseload - caseload, 0) AS free_places "
            "FROM coaching_coaches WHERE provider_id = %s ORDER BY coach",
            (provider_id,),
        )


class RegistryProjection(Projection[RegistryView]):
    name = "coaching_registry"
    topics = (
        *_topics(
            Provider, "Registered", "CoachAdded", "OutreachContracted", "OutreachContractEnded"
        ),
        *_topics(Coach, "Registered", "PlaceTaken", "PlaceReleased"),
    )

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, e: Provider.Registered, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO coaching_providers VALUES (%(id)s, %(name)s, %(districts)s, "
            "%(initial_months)s, %(extension_months)s, %(max_extensions)s) "
            "ON CONFLICT DO NOTHING",
            {"id": e.originator_id, "name": e.name, "districts": Jsonb(e.districts), **e.terms},
        )

    @process_event.register
    def _(self, e: Provider.OutreachContracted, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE coaching_providers "
            "SET outreach_districts = outreach_districts || to_jsonb(%(district)s::text) "
            "WHERE provider_id = %(id)s AND NOT outreach_districts ? %(district)s",
            {"id": e.originator_id, "district": e.district},
        )

    @process_event.register
    def _(self, e: Provider.OutreachContractEnded, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE coaching_providers SET outreach_districts = outreach_districts - "
            "%(district)s::text WHERE provider_id = %(id)s",
            {"id": e.originator_id, "district": e.district},
        )

    @process_event.register
    def _(self, e: Coach.Registered, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO coaching_coaches VALUES (%(coach)s, %(coach_id)s, %(provider_id)s, "
            "%(display_name)s, %(max_caseload)s, %(emergency_line)s, 0) "
            "ON CONFLICT DO NOTHING",
            {
                "coach": e.user,
                "coach_id": e.originator_id,
                "provider_id": e.provider_id,
                "display_name": e.display_name,
                "max_caseload": e.max_caseload,
                "emergency_line": e.emergency_line,
            },
        )

    @process_event.register
    def _(self, e: Coach.PlaceTaken, tracking: Tracking) -> None:
        self._count(e, tracking, +1)

    @process_event.register
    def _(self, e: Coach.PlaceReleased, tracking: Tracking) -> None:
        self._count(e, tracking, -1)

    def _count(self, e: Any, tracking: Tracking, delta: int) -> None:
        self.view.execute(
            tracking,
            "UPDATE coaching_coaches SET caseload = caseload + %(delta)s "
            "WHERE coach_id = %(coach_id)s",
            {"delta": delta, "coach_id": e.originator_id},
        )


# --- coachings ----------------------------------------------------------------------------


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
    topics = _topics(
        Coaching,
        "Requested",
        "CoachAssigned",
        "Extended",
        "SessionHeld",
        "HouseholdMemberAdded",
        "PartnerReferralRecorded",
        "Ended",
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


# --- group programmes ---------------------------------------------------------------------


class ProgrammeView(TrackedView):
    schema = (
        """CREATE TABLE IF NOT EXISTS programmes (
            programme_id uuid PRIMARY KEY,
            district text NOT NULL,
            local_office text NOT NULL,
            title text NOT NULL,
            target_group text NOT NULL,
            dates jsonb NOT NULL,
            capacity int NOT NULL,
            open_to_neighbouring boolean NOT NULL,
            mobile boolean NOT NULL,
            enrolled int NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE IF NOT EXISTS programme_participants (
            programme_id uuid NOT NULL,
            case_id uuid NOT NULL,
            subject_id uuid NOT NULL,
            participant_district text NOT NULL,
            enrolled_on date NOT NULL,
            completed_on date,
            PRIMARY KEY (programme_id, case_id)
        )""",
        """CREATE TABLE IF NOT EXISTS programme_attendance (
            programme_id uuid NOT NULL,
            case_id uuid NOT NULL,
            session_on date NOT NULL,
            present boolean NOT NULL,
            PRIMARY KEY (programme_id, case_id, session_on)
        )""",
    )

    def programmes(self, district: str) -> list[DictRow]:
        """The district's programmes, and its neighbours' programmes open to other districts."""
        return self.query(
            "SELECT * FROM programmes WHERE district = %(district)s OR open_to_neighbouring "
            "ORDER BY dates->>0, title, programme_id",
            {"district": district},
        )

    def programme(self, programme_id: UUID) -> DictRow | None:
        rows = self.query("SELECT * FROM programmes WHERE programme_id = %s", (programme_id,))
        return rows[0] if rows else None

    def roster(self, programme_id: UUID) -> list[DictRow]:
        return self.query(
            "SELECT * FROM programme_participants WHERE programme_id = %s "
            "ORDER BY enrolled_on, case_id",
            (programme_id,),
        )

    def attendance(self, programme_id: UUID) -> list[DictRow]:
        return self.query(
            "SELECT case_id, session_on, present FROM programme_attendance "
            "WHERE programme_id = %s ORDER BY session_on, case_id",
            (programme_id,),
        )


class ProgrammeProjection(Projection[ProgrammeView]):
    name = "programme_roster"
    topics = _topics(
        Programme, "Planned", "ParticipantEnrolled", "AttendanceRecorded", "ParticipationCompleted"
    )

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, e: Programme.Planned, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO programmes VALUES (%(id)s, %(district)s, %(local_office)s, "
            "%(title)s, %(target_group)s, %(dates)s, %(capacity)s, "
            "%(open_to_neighbouring)s, %(mobile)s, 0) ON CONFLICT DO NOTHING",
            {
                "id": e.originator_id,
                "district": e.district,
                "local_office": e.local_office,
                "title": e.title,
                "target_group": e.target_group,
                "dates": Jsonb([d.isoformat() for d in e.dates]),
                "capacity": e.capacity,
                "open_to_neighbouring": e.open_to_neighbouring,
                "mobile": e.mobile,
            },
        )

    @process_event.register
    def _(self, e: Programme.ParticipantEnrolled, tracking: Tracking) -> None:
        params = {
            "id": e.originator_id,
            "case_id": e.case_id,
            "subject_id": e.subject_id,
            "participant_district": e.participant_district,
            "enrolled_on": e.enrolled_on,
        }
        with self.view.tracked(tracking) as cursor:
            cursor.execute(
                b"INSERT INTO programme_participants VALUES (%(id)s, %(case_id)s, "
                b"%(subject_id)s, %(participant_district)s, %(enrolled_on)s, NULL) "
                b"ON CONFLICT DO NOTHING",
                params,
            )
            cursor.execute(
                b"UPDATE programmes SET enrolled = enrolled + 1 WHERE programme_id = %(id)s",
                params,
            )

    @process_event.register
    def _(self, e: Programme.AttendanceRecorded, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO programme_attendance VALUES (%(id)s, %(case_id)s, %(session_on)s, "
            "%(present)s) ON CONFLICT (programme_id, case_id, session_on) "
            "DO UPDATE SET present = EXCLUDED.present",
            {
                "id": e.originator_id,
                "case_id": e.case_id,
                "session_on": e.session_on,
                "present": e.present,
            },
        )

    @process_event.register
    def _(self, e: Programme.ParticipationCompleted, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE programme_participants SET completed_on = %(completed_on)s "
            "WHERE programme_id = %(id)s AND case_id = %(case_id)s",
            {"id": e.originator_id, "case_id": e.case_id, "completed_on": e.completed_on},
        )


# --- the case directory (from the contacts events) ----------------------------------------


class CaseDirectoryView(TrackedView):
    """Who a case is: district, person pseudonym, and the sealed contact data (name,
    address, phone) from ``ContactLost`` and ``ContactDetailsUpdated``."""

    schema = (
        """CREATE TABLE IF NOT EXISTS case_directory (
            case_id uuid PRIMARY KEY,
            subject_id uuid NOT NULL,
            district text NOT NULL,
            local_office text NOT NULL,
            name_token text NOT NULL,
            address_token text NOT NULL,
            phone_token text,
            case_manager text NOT NULL,
            is_open boolean NOT NULL DEFAULT true
        )""",
    )

    @staticmethod
    def apply_contact_event(cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
        payload = envelope.payload
        if isinstance(payload, ContactLost):
            cursor.execute(
                b"INSERT INTO case_directory VALUES (%s, %s, %s, %s, %s, %s, %s, %s, true) "
                b"ON CONFLICT (case_id) DO NOTHING",
                (
                    payload.case_id,
                    envelope.subject,
                    envelope.district,
                    payload.local_office,
                    payload.person.name,
                    payload.person.address,
                    payload.person.phone,
                    payload.case_manager,
                ),
            )
        elif isinstance(payload, ContactDetailsUpdated):
            cursor.execute(
                b"UPDATE case_directory SET name_token = coalesce(%s, name_token), "
                b"address_token = coalesce(%s, address_token), "
                b"phone_token = coalesce(%s, phone_token) WHERE case_id = %s",
                (payload.name, payload.address, payload.phone, payload.case_id),
            )
        elif isinstance(payload, OutreachCaseClosed):
            # The row stays: a coaching can outlast the outreach case, and its hand-over
            # packet still needs the contact data.
            cursor.execute(
                b"UPDATE case_directory SET is_open = false WHERE case_id = %s", (payload.case_id,)
            )

    def case(self, case_id: UUID) -> DictRow | None:
        rows = self.query("SELECT * FROM case_directory WHERE case_id = %s", (case_id,))
        return rows[0] if rows else None

    def cases(self, case_ids: list[UUID]) -> dict[UUID, DictRow]:
        rows = self.query("SELECT * FROM case_directory WHERE case_id = ANY(%s)", (case_ids,))
        return {row["case_id"]: row for row in rows}


def _blank_household(cursor: Cursor[DictRow], subject_id: UUID) -> None:
    cursor.execute(
        b"UPDATE coaching_record SET household = (SELECT coalesce(jsonb_agg(member || "
        b"jsonb_build_object('name_token', %(erased)s::text)), '[]'::jsonb) "
        b"FROM jsonb_array_elements(household) AS member) WHERE subject_id = %(subject)s",
        {"subject": subject_id, "erased": ERASED},
    )


FORGET: Forget = forget_all(
    blank_tokens("case_directory", "name_token", "address_token", "phone_token"),
    _blank_household,
)
"""What coaching forgets of an erased person: the sealed contact data of the hand-over packet
and the names of household members become ``[erased]``; the coaching's facts stay."""
