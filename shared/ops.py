"""The ``/ops`` routes of the read side: projection runners, consumer groups, parked events
and their retry (see README, Operations). Role-checked like every ``/ops`` route: a team
lead or a data protection officer; the retry only a team lead."""

# No "from __future__ import annotations": FastAPI resolves the route signatures at runtime.

import logging
from typing import TYPE_CHECKING, Annotated, Any

from eventsourcing.projection import Projection
from fastapi import APIRouter, Body, Depends, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from pydantic import Field

from shared import parking
from shared.auth import Authenticator, Principal, Role
from shared.errors import NotFoundError
from shared.inputs import Integer, Key, QueryBool, QueryInt, StrictModel, Uuid
from shared.settings import ProcessRole

if TYPE_CHECKING:
    from shared.runtime import Runtime, ServiceSpec

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


def _projection_named(spec: "ServiceSpec", runtime: "Runtime", name: str) -> Projection[Any]:
    """The service's projection ``name`` over the view this process has open."""
    for projection_class, view_class in spec.projections:
        if projection_class.name == name:
            return projection_class(view=runtime.views[view_class.__name__])
    raise NotFoundError(f"no projection {name!r} in this service")


def read_side_router(
    spec: "ServiceSpec",
    holder: dict[str, "Runtime"],
    authenticate: Authenticator,
    role: ProcessRole,
) -> APIRouter:
    """``/ops/projections``, ``/ops/consumers``, ``/ops/parked`` and its retry. The runners
    and consumers run where the work runs (not in an ``api`` process); parked events are
    read and retried from the database by any process of the service."""
    router = APIRouter(tags=["ops"])
    runs_work = role is not ProcessRole.API

    @router.get("/ops/projections")
    def projection_status(
        principal: Annotated[Principal, Depends(authenticate)],
    ) -> dict[str, Any]:
        """Each projection runner: running, position, how far behind the log's head, parked
        events, last progress, and whether a rebuild or retry holds its view."""
        principal.require(Role.TEAM_LEAD, Role.DATA_PROTECTION_OFFICER)
        runtime = holder["runtime"]
        if not runs_work:
            return {"process_role": str(role), "runs_in": "worker"}
        head = runtime.app.recorder.max_notification_id() or 0
        return {
            "process_role": str(role),
            "log_head": head,
            "projections": {
                runner.projection.name: {
                    **runner.status(),
                    "behind_log_head": head - runner.applier.position,
                }
                for runner in runtime.runners
            },
        }

    @router.get("/ops/consumers")
    async def consumer_status(
        principal: Annotated[Principal, Depends(authenticate)],
    ) -> dict[str, Any]:
        """Each Kafka consumer group: lag per partition, processed and parked messages, last
        progress, stalled (messages wait and nothing moved for a while)."""
        principal.require(Role.TEAM_LEAD, Role.DATA_PROTECTION_OFFICER)
        if not runs_work:
            return {"process_role": str(role), "runs_in": "worker"}
        consumers = holder["runtime"].consumers
        return {"consumers": {c.name: await c.status() for c in consumers}}

    @router.get("/ops/parked")
    def parked_events(
        principal: Annotated[Principal, Depends(authenticate)],
        projection: Key | None = None,
        include_resolved: Annotated[QueryBool, Query()] = False,
        limit: Annotated[int, QueryInt(1, 10000)] = 100,
    ) -> JSONResponse:
        """Stored events a projection could not apply (oldest first): what, why, where in
        the log. No event data: the error's class and a message without values."""
        principal.require(Role.TEAM_LEAD, Role.DATA_PROTECTION_OFFICER)
        with holder["runtime"].pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            events = parking.listing(
                cursor, projection=projection, include_resolved=include_resolved, limit=limit
            )
            by_projection = parking.counts(cursor)
        body = {
            "total": sum(by_projection.values()),
            "by_projection": by_projection,
            "events": events,
        }
        return JSONResponse(jsonable_encoder(body))

    @router.post("/ops/parked/retry")
    def retry_parked_events(
        principal: Annotated[Principal, Depends(authenticate)],
        request: Annotated[ParkedRetry, Body()],
    ) -> dict[str, Any]:
        """Apply a projection's parked events again after a fix: per aggregate in log order,
        each once; one that fails again stays parked (and its aggregate's later ones)."""
        principal.require(Role.TEAM_LEAD)
        runtime = holder["runtime"]
        projection = _projection_named(spec, runtime, request.projection)
        recorder = runtime.app.recorder

        def read(notification_id: int) -> Any:
            found = recorder.select_notifications(notification_id, 1)
            return found[0] if found and found[0].id == notification_id else None

        result = parking.retry_parked(
            projection,
            runtime.app.name,
            read,
            runtime.app.mapper.to_domain_event,
            originator_ids=request.aggregate_ids,
            notification_ids=request.notification_ids,
        )
        log.info(
            "parked events retried by request",
            extra={"projection": request.projection, "user": principal.user},
        )
        return {"projection": request.projection, **result.as_dict()}

    return router
