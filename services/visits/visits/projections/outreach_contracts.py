"""Which provider a team lead contracted to run the outreach in which district (from
``ProviderOutreachContracted`` / ``ProviderOutreachContractEnded`` on ``outreach.coaching``;
see ``visits.messaging``). The API admits a provider's outreach workers by it
(``visits.api.deps``)."""

from __future__ import annotations

from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow

from shared.contracts import Envelope, Payload
from shared.contracts.coaching import ProviderOutreachContracted, ProviderOutreachContractEnded
from shared.eventsourcing.views import TrackedView


class OutreachContractsView(TrackedView):
    """Which provider runs the outreach in which district."""

    schema = (
        """CREATE TABLE IF NOT EXISTS outreach_contracts (
            provider_id uuid NOT NULL,
            district text NOT NULL,
            provider_name text NOT NULL,
            PRIMARY KEY (provider_id, district)
        )""",
    )

    @staticmethod
    def apply_coaching_event(cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
        payload = envelope.payload
        if isinstance(payload, ProviderOutreachContracted):
            cursor.execute(
                b"INSERT INTO outreach_contracts (provider_id, district, provider_name) "
                b"VALUES (%s, %s, %s) ON CONFLICT (provider_id, district) "
                b"DO UPDATE SET provider_name = EXCLUDED.provider_name",
                (payload.provider_id, envelope.district, payload.provider_name),
            )
        elif isinstance(payload, ProviderOutreachContractEnded):
            cursor.execute(
                b"DELETE FROM outreach_contracts WHERE provider_id = %s AND district = %s",
                (payload.provider_id, envelope.district),
            )

    def districts_of(self, provider_id: UUID) -> frozenset[str]:
        rows = self.query(
            "SELECT district FROM outreach_contracts WHERE provider_id = %s", (provider_id,)
        )
        return frozenset(row["district"] for row in rows)
