"""The registry: providers, their coaches, caseload and free places (``coaching_registry``,
following the service's own event log)."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from coaching.domain import Coach, Provider
from coaching.projections import topics_of
from shared.eventsourcing.views import TrackedView


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
        # A registry view whose table lacks the column is brought up to this schema.
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
    topics = topics_of(
        Provider.Registered,
        Provider.CoachAdded,
        Provider.OutreachContracted,
        Provider.OutreachContractEnded,
        Coach.Registered,
        Coach.PlaceTaken,
        Coach.PlaceReleased,
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
