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

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from shared.chain import read_anchors
from shared.dpo import subject_events
from shared.errors import NotFoundError
from shared.http.access_log import record_access
from shared.http.auth import Principal, Role
from shared.http.deps import require
from shared.http.inputs import Key, Moment, QueryInt, Uuid
from shared.http.purpose import Purpose, StatedPurpose
from shared.http.state import app_state
from shared.runtime.running import Running

EXPORT_ROUTE = "GET /dpo/subjects/{subject}/export"


def _running(request: Request) -> Running:
    return app_state(request, "running", Running)


RunningDep = Annotated[Running, Depends(_running)]
Officer = Annotated[Principal, Depends(require(Role.DATA_PROTECTION_OFFICER))]

router = APIRouter(prefix="/dpo", tags=["data protection"])


@router.get("/chain")
async def verify_chain(_: Officer, running: RunningDep) -> dict[str, Any]:
    """Verify the hash chain of this service's stored events against the anchors
    (service-wide: the result holds no personal data)."""
    chain = running.chain
    bootstrap = running.infra.settings.kafka_bootstrap
    anchors = await asyncio.to_thread(read_anchors, bootstrap, chain.service)
    result = await asyncio.to_thread(chain.verify, anchors)
    return {**asdict(result), "intact": result.intact, "anchors": len(anchors)}


@router.get("/access-log")
def access_log_entries(
    officer: Officer,
    running: RunningDep,
    subject: Uuid | None = None,
    user: Key | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    limit: Annotated[int, QueryInt(1, 10000)] = 1000,
) -> dict[str, Any]:
    """Who opened whose personal data, when, which fields and why (oldest first): the
    reads of records of the districts on the officer's token."""
    districts = officer.districts
    entries = running.infra.access_log.entries(
        districts=districts, subject=subject, user=user, since=since, until=until, limit=limit
    )
    service = running.infra.settings.service_name
    return {"service": service, "districts": sorted(districts), "entries": entries}


@router.get("/break-glass")
def break_glass_grants(
    officer: Officer,
    running: RunningDep,
    subject: Uuid | None = None,
    user: Key | None = None,
    limit: Annotated[int, QueryInt(1, 10000)] = 1000,
) -> dict[str, Any]:
    """Every break-glass grant to a record of the officer's districts: who opened it,
    why, until when."""
    districts = officer.districts
    grants = running.infra.access_log.grants(
        districts=districts, subject=subject, user=user, limit=limit
    )
    service = running.infra.settings.service_name
    return {"service": service, "districts": sorted(districts), "grants": grants}


@router.get("/subjects/{subject}/export")
def subject_export(subject: Uuid, officer: Officer, running: RunningDep) -> dict[str, Any]:
    """This service's part of the person's Art. 15 export, of the officer's districts
    (404 when it holds nothing about the person there). Logged with purpose audit, one
    entry per district read."""
    districts = officer.districts
    infra = running.infra
    own = running.service.export(subject, districts)
    found = sorted(set(own["districts"]) & districts)
    if not found:
        raise NotFoundError("subject not found")
    events = subject_events(running.service.app, infra.cipher, subject, districts=districts)
    for district in found:
        record_access(
            infra.access_log,
            officer,
            subject,
            ["personal_data", "events", "recipients", "access_log"],
            StatedPurpose(Purpose.AUDIT, "Art. 15 GDPR export"),
            route=EXPORT_ROUTE,
            district=district,
            resource=f"subject:{subject}",
        )
    log = infra.access_log
    return {
        "service": infra.settings.service_name,
        "subject": str(subject),
        "districts": found,
        "personal_data": own["personal_data"],
        "recipients": own["recipients"],
        "events": events,
        "access_log": log.entries(districts=districts, subject=subject, limit=100000),
        "break_glass": log.grants(districts=districts, subject=subject),
    }
