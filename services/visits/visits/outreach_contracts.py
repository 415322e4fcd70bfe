"""Providers that run the outreach themselves, and the admission of their outreach workers.

A Jobcenter can contract a provider (Träger) to run the outreach in a district. The contract
is kept in the coaching service's registry and published per district
(``ProviderOutreachContracted`` / ``ProviderOutreachContractEnded`` on ``outreach.coaching``);
the ``visits-outreach-contracts`` consumer keeps it here. A ``provider_outreach`` token names
the provider and its districts; such a user works, like an outreach worker, only the
districts that are on the token *and* under the provider's contract — the others do not exist
for them (404), and without any covered district every visits route answers 403
``no_outreach_contract``. Ending the contract ends the access with the next request.
"""

# No "from __future__ import annotations": FastAPI must resolve the dependency's signature,
# which names the wrapped authentication (a local of the wrapping function).

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from psycopg import Cursor
from psycopg.rows import DictRow
from starlette.concurrency import run_in_threadpool

from shared.contracts import Envelope, Payload, topic_of
from shared.contracts.coaching import ProviderOutreachContracted, ProviderOutreachContractEnded
from shared.errors import ForbiddenError
from shared.eventsourcing.views import TrackedView
from shared.http.auth import Authenticator, Principal, Role
from shared.messaging.consumer import Consumer, view_effect

CONTRACT_EVENTS = frozenset({"ProviderOutreachContracted", "ProviderOutreachContractEnded"})


class NoOutreachContractError(ForbiddenError):
    code = "no_outreach_contract"


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


def outreach_contracts_consumer(view: OutreachContractsView, *, prefix: str) -> Consumer:
    return Consumer(
        name=f"{prefix}-outreach-contracts",
        topic=topic_of("coaching"),
        effect=view_effect(view, OutreachContractsView.apply_coaching_event),
        event_types=CONTRACT_EVENTS,
        description="Which providers run the outreach themselves, in which districts.",
    )


def admit_contracted_providers(
    authenticate: Authenticator, contracts: OutreachContractsView
) -> Authenticator:
    """Wraps the service's authentication: a ``provider_outreach`` principal keeps only the
    districts its provider's outreach contract covers; everyone else passes unchanged."""

    async def admitted(
        request: Request, principal: Annotated[Principal, Depends(authenticate)]
    ) -> Principal:
        # On the event loop: only a provider's principal needs the (blocking) view query.
        if principal.role is not Role.PROVIDER_OUTREACH:
            return principal
        if principal.provider is None:
            raise NoOutreachContractError("a provider_outreach token names its provider")
        contracted = await run_in_threadpool(contracts.districts_of, principal.provider)
        covered = principal.districts & contracted
        if not covered:
            raise NoOutreachContractError(
                "the provider is not contracted to run the outreach in these districts",
                provider=str(principal.provider),
            )
        narrowed = principal.model_copy(update={"districts": frozenset(covered)})
        request.state.principal = narrowed
        return narrowed

    return admitted
