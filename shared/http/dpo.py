"""The data protection officer's routes every service serves (role
``data_protection_officer``; any other role: 403).

The officer is scoped like everyone else: a token names districts, and the officer sees and
acts on the persons and access-log entries of those districts only. Each Jobcenter (district)
is its own controller of the social data it processes (§67 SGB X): its officer answers for
that, not for another district's. A person with cases in several districts is visible to the
officer of each of them, and each officer's export holds what their districts hold.

- ``GET /dpo/access-log`` and ``GET /dpo/break-glass``: the entries and grants of records of
  the token's districts (an entry names the district of the record read).
- ``GET /dpo/subjects/{subject}/export``: the service's part of the person's Art. 15 export,
  of the token's districts; **404** when the service holds nothing about the person there
  (the same answer as for a person who does not exist).
- ``GET /dpo/chain``: the hash chain of the service's whole event log. It is service-wide on
  purpose: the chain links every district's events in one order, and its result (counts,
  positions, digests) reveals nothing about a person; any officer may check it.
"""

# No "from __future__ import annotations": FastAPI must resolve the route signatures that
# refer to local dependencies at runtime.

import asyncio
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, Protocol
from uuid import UUID

from fastapi import APIRouter, Depends

from shared.chain import EventChain, read_anchors
from shared.dpo import subject_events
from shared.errors import NotFoundError
from shared.eventsourcing.application import OutreachApplication
from shared.http.access_log import AccessLog, Purpose, StatedPurpose, record_access
from shared.http.auth import Authenticator, Principal, Role
from shared.http.inputs import Key, Moment, QueryInt, Uuid
from shared.privacy import PersonalDataCipher

EXPORT_ROUTE = "GET /dpo/subjects/{subject}/export"

SubjectExport = Callable[[UUID, frozenset[str]], dict[str, Any]]
"""A service's own part of a person's export, of the given districts only:
``districts`` (those of them in which the service holds something about the person; empty:
nothing), ``personal_data`` (opened) and ``recipients`` (to whom the data went)."""


class DpoSources(Protocol):
    """What the routes read (the service's runtime)."""

    @property
    def app(self) -> OutreachApplication: ...
    @property
    def cipher(self) -> PersonalDataCipher: ...
    @property
    def access_log(self) -> AccessLog: ...
    @property
    def chain(self) -> EventChain | None: ...


def build_dpo_router(
    authenticate: Authenticator,
    *,
    service: str,
    kafka_bootstrap: str,
    sources: Callable[[], DpoSources],
    export: SubjectExport,
) -> APIRouter:
    router = APIRouter(prefix="/dpo", tags=["data protection"])
    Officer = Annotated[Principal, Depends(authenticate)]

    def officer(principal: Principal) -> frozenset[str]:
        principal.require(Role.DATA_PROTECTION_OFFICER)
        return principal.districts

    @router.get("/chain")
    async def verify_chain(principal: Officer) -> dict[str, Any]:
        """Verify the hash chain of this service's stored events against the anchors
        (service-wide: the result holds no personal data)."""
        officer(principal)
        chain = sources().chain
        assert chain is not None
        anchors = await asyncio.to_thread(read_anchors, kafka_bootstrap, chain.service)
        result = await asyncio.to_thread(chain.verify, anchors)
        return {**asdict(result), "intact": result.intact, "anchors": len(anchors)}

    @router.get("/access-log")
    def access_log_entries(
        principal: Officer,
        subject: Uuid | None = None,
        user: Key | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        limit: Annotated[int, QueryInt(1, 10000)] = 1000,
    ) -> dict[str, Any]:
        """Who opened whose personal data, when, which fields and why (oldest first): the
        reads of records of the districts on the officer's token."""
        districts = officer(principal)
        entries = sources().access_log.entries(
            districts=districts, subject=subject, user=user, since=since, until=until, limit=limit
        )
        return {"service": service, "districts": sorted(districts), "entries": entries}

    @router.get("/break-glass")
    def break_glass_grants(
        principal: Officer,
        subject: Uuid | None = None,
        user: Key | None = None,
        limit: Annotated[int, QueryInt(1, 10000)] = 1000,
    ) -> dict[str, Any]:
        """Every break-glass grant to a record of the officer's districts: who opened it,
        why, until when."""
        districts = officer(principal)
        grants = sources().access_log.grants(
            districts=districts, subject=subject, user=user, limit=limit
        )
        return {"service": service, "districts": sorted(districts), "grants": grants}

    @router.get("/subjects/{subject}/export")
    def subject_export(subject: Uuid, principal: Officer) -> dict[str, Any]:
        """This service's part of the person's Art. 15 export, of the officer's districts
        (404 when it holds nothing about the person there). Logged with purpose audit, one
        entry per district read."""
        districts = officer(principal)
        runtime = sources()
        own = export(subject, districts)
        found = sorted(set(own.get("districts", ())) & districts)
        if not found:
            raise NotFoundError("subject not found")
        events = subject_events(runtime.app, runtime.cipher, subject, districts=districts)
        for district in found:
            record_access(
                runtime.access_log,
                principal,
                subject,
                ["personal_data", "events", "recipients", "access_log"],
                StatedPurpose(Purpose.AUDIT, "Art. 15 GDPR export"),
                route=EXPORT_ROUTE,
                district=district,
                resource=f"subject:{subject}",
            )
        log = runtime.access_log
        return {
            "service": service,
            "subject": str(subject),
            "districts": found,
            "personal_data": own.get("personal_data", {}),
            "recipients": own.get("recipients", []),
            "events": events,
            "access_log": log.entries(districts=districts, subject=subject, limit=100000),
            "break_glass": log.grants(districts=districts, subject=subject),
        }

    return router
