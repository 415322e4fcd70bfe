"""The ``/ops`` routes every service serves (see README, Operations): dead letters, the
relay, projection runners, consumer groups, parked events and their retry. A team lead or a
data protection officer; the retry only a team lead. The relay, runners and consumers run
where the work runs (not in an ``api`` process: it says so); parked events are read and
retried from the database by any process of the service."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from pydantic import Field

from shared.eventsourcing import parking, retry
from shared.http.auth import Principal, Role
from shared.http.bodies import StrictModel
from shared.http.deps import require
from shared.http.inputs import Integer, Key, QueryBool, QueryInt, Uuid
from shared.http.state import app_state
from shared.metrics.service import waiting_for
from shared.runtime.running import Running
from shared.settings import ProcessRole

log = logging.getLogger(__name__)


MAX_SAFE_INTEGER = 2**53 - 1
"""The largest notification id a request names: what every JSON reader holds exactly (a
larger number turns into a neighbouring float in JavaScript and many validators)."""


class ParkedRetry(StrictModel):
    """Which parked events of a projection to apply again (all of them if neither list is
    given; else the aggregates named, and the aggregates of the notifications named)."""

    projection: Annotated[Key, Field(examples=["case_queue"])]
    aggregate_ids: Annotated[list[Uuid], Field(max_length=1000)] | None = None
    notification_ids: (
        Annotated[list[Annotated[int, Integer(1, MAX_SAFE_INTEGER)]], Field(max_length=1000)] | None
    ) = None


def _running(request: Request) -> Running:
    return app_state(request, "running", Running)


RunningDep = Annotated[Running, Depends(_running)]
Operator = Annotated[Principal, Depends(require(Role.TEAM_LEAD, Role.DATA_PROTECTION_OFFICER))]
TeamLead = Annotated[Principal, Depends(require(Role.TEAM_LEAD))]

router = APIRouter(prefix="/ops", tags=["ops"])


def _in_worker(running: Running) -> dict[str, Any]:
    return {"process_role": str(running.role), "runs_in": "worker"}


@router.get("/dead-letters")
def dead_letter_counts(_: Operator, running: RunningDep) -> dict[str, Any]:
    counts = running.infra.dead_letters.counts()
    return {"total": sum(counts.values()), "by_consumer": counts}


@router.get("/relay")
def relay_status(_: Operator, running: RunningDep) -> dict[str, Any]:
    relay = running.relays[0]
    status: dict[str, Any] = {
        "process_role": str(running.role),
        "active": relay.is_active,
        "position": relay.position,
        "published": relay.published,
    }
    if running.role is ProcessRole.API:
        # The relay runs in the worker process; its position is the one it recorded.
        status["runs_in"] = "worker"
    return status


@router.get("/projections")
def projection_status(_: Operator, running: RunningDep) -> dict[str, Any]:
    """Each projection runner: running, position, the events of its topics it has yet to
    apply (``events_waiting``, as the metric ``outreach_projection_lag_events``; the log's
    head may be an event of a topic it never applies, so ``behind_log_head`` stays above zero
    for a view of rare events), parked events, last progress, and whether a rebuild or retry
    holds its view."""
    if running.runners is None:
        return _in_worker(running)
    head = running.service.app.recorder.max_notification_id() or 0
    return {
        "process_role": str(running.role),
        "log_head": head,
        "projections": {
            runner.projection.name: {
                **runner.status(),
                "events_waiting": waiting_for(
                    running, runner.applier.position, list(runner.projection.topics)
                ),
                "behind_log_head": head - runner.applier.position,
            }
            for runner in running.runners.runners
        },
    }


@router.get("/consumers")
async def consumer_status(_: Operator, running: RunningDep) -> dict[str, Any]:
    """Each Kafka consumer group: lag per partition, processed and parked messages, last
    progress, stalled (messages wait and nothing moved for a while)."""
    if running.runners is None:
        return _in_worker(running)
    # Each status asks the broker (bounded by LAG_QUERY_SECONDS): all at once, not in turn.
    statuses = await asyncio.gather(*(c.status() for c in running.consumers))
    return {"consumers": {c.name: s for c, s in zip(running.consumers, statuses, strict=True)}}


@router.get("/parked")
def parked_events(
    _: Operator,
    running: RunningDep,
    projection: Key | None = None,
    include_resolved: Annotated[QueryBool, Query()] = False,
    limit: Annotated[int, QueryInt(1, 10000)] = 100,
) -> JSONResponse:
    """Stored events a projection could not apply (oldest first): what, why, where in the
    log. No event data: the error's class and a message without values."""
    with running.infra.pool.connection() as conn:
        cursor = conn.cursor(row_factory=dict_row)
        events = parking.listing(
            cursor, projection=projection, include_resolved=include_resolved, limit=limit
        )
        by_projection = parking.counts(cursor)
    body = {"total": sum(by_projection.values()), "by_projection": by_projection, "events": events}
    return JSONResponse(jsonable_encoder(body))


@router.post("/parked/retry")
def retry_parked_events(
    principal: TeamLead, running: RunningDep, request: Annotated[ParkedRetry, Body()]
) -> dict[str, Any]:
    """Apply a projection's parked events again after a fix: per aggregate in log order,
    each once; one that fails again stays parked (and its aggregate's later ones)."""
    projection = running.projection(request.projection)
    app = running.service.app
    result = retry.retry_parked(
        projection,
        app.name,
        retry.notification_reader(app),
        app.mapper.to_domain_event,
        originator_ids=request.aggregate_ids,
        notification_ids=request.notification_ids,
    )
    log.info(
        "parked events retried by request",
        extra={"projection": request.projection, "user": principal.user},
    )
    return {"projection": request.projection, **result.as_dict()}
