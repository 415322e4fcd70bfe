"""The FastAPI app of a service process (:func:`service_app`): its routes, included when the
app is built, and a lifespan that opens the service and starts what the process role runs.

What each role serves: ``all`` everything; ``api`` the service's routes, ``/dpo``, ``/ops``
and health (its ``/ops`` says the work runs in the worker); ``worker`` only health,
readiness (with the projections, consumers and parked events it runs) and ``/ops``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence

import psycopg
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from faststream.specification import AsyncAPI

from shared.http import dpo, ops
from shared.http.app import ReadinessCheck, ReadinessReport, http_app
from shared.metrics.endpoint import install_metrics
from shared.runtime.drain import CloseWhileDraining, Drain
from shared.runtime.infrastructure import Infrastructure
from shared.runtime.running import Running, open_running, start_key_eviction, start_work, stop
from shared.runtime.service import Service
from shared.settings import ProcessRole

log = logging.getLogger(__name__)


def service_app(
    infra: Infrastructure,
    *,
    title: str,
    description: str,
    open_service: Callable[[], Service[object]],
    routers: Sequence[APIRouter],
) -> FastAPI:
    """The app of a service process: ``open_service`` is called at start-up (under the
    service's schema lock) and returns what the process runs and what the routes reach."""
    process = ServiceProcess(infra, open_service)
    serves_api = infra.settings.process_role is not ProcessRole.WORKER
    http = routes_app(
        infra,
        title=title,
        description=description,
        lifespan=process.lifespan,
        readiness=process.readiness(),
        reports=process.reports(),
    )
    asyncapi = AsyncAPI(
        infra.broker, title=f"{title} events", version="1.0.0", schema_version="3.0.0"
    )

    @http.get("/asyncapi.json", tags=["docs"], include_in_schema=False)
    async def asyncapi_document() -> JSONResponse:
        return JSONResponse(asyncapi.to_specification().to_jsonable())

    http.state.drain = process.drain
    http.add_middleware(CloseWhileDraining, drain=process.drain)
    install_metrics(
        http,
        lambda: process.running,
        infra.broker,
        runs_work=infra.settings.process_role is not ProcessRole.API,
        readiness=process.readiness(),
    )
    http.include_router(ops.router)
    if serves_api:  # the data protection routes read the service's data: not the worker
        http.include_router(dpo.router)
        for router in routers:
            http.include_router(router)
    return http


def routes_app(
    infra: Infrastructure,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    lifespan: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]] | None = None,
    readiness: dict[str, ReadinessCheck] | None = None,
    reports: dict[str, ReadinessReport] | None = None,
) -> FastAPI:
    """An app serving ``routers`` with the infrastructure's token verifier and access log
    (``app.state``); the service's own state is set by whoever opened the service."""
    http = http_app(
        title=title,
        description=description,
        lifespan=lifespan,
        readiness=readiness,
        reports=reports,
    )
    http.state.verifier = infra.verifier
    http.state.access_log = infra.access_log
    for router in routers:
        http.include_router(router)
    return http


class ServiceProcess:
    """One process of a service, from start-up to shutdown; what its readiness reads."""

    def __init__(self, infra: Infrastructure, open_service: Callable[[], Service[object]]) -> None:
        self.infra = infra
        self.open_service = open_service
        self.running: Running | None = None
        self.drain = Drain(infra.settings.drain_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(self, http: FastAPI) -> AsyncIterator[None]:
        self.drain.install()
        running = await asyncio.to_thread(open_running, self.infra, self.open_service)
        http.state.service = running.service.state
        http.state.running = self.running = running
        stopping = asyncio.Event()
        if running.runners is not None:
            tasks = await start_work(running, stopping)
        else:
            tasks = start_key_eviction(running, stopping)
        settings = self.infra.settings
        log.info(
            "service started",
            extra={"port": settings.port, "process_role": str(settings.process_role)},
        )
        try:
            yield
        finally:
            await stop(running, tasks, stopping)

    def readiness(self) -> dict[str, ReadinessCheck]:
        """What decides readiness. Each process reports what it runs: an api process neither
        uses Kafka nor runs the projections (the worker does, on its own port)."""
        checks: dict[str, ReadinessCheck] = {"database": self.database_ready}
        if self.infra.settings.process_role is not ProcessRole.API:
            checks |= {"kafka": self.kafka_ready, "projections": self.projections_ready}
        return checks

    def reports(self) -> dict[str, ReadinessReport]:
        """Shown by readiness without deciding it: parked events do not make the service
        unready (the view is served, the rest of the log flows); a stalled consumer is
        shown, not failing the whole service."""
        if self.infra.settings.process_role is ProcessRole.API:
            return {}
        return {
            "parked_events": self.parked_report,
            "projections": self.projections_report,
            "consumers": self.consumers_report,
        }

    async def database_ready(self) -> bool:
        """The database answers where the requests reach it (through the pooler, if any:
        a new connection there costs PostgreSQL nothing)."""
        settings = self.infra.settings
        try:
            async with await psycopg.AsyncConnection.connect(
                settings.pooled_url(settings.database), connect_timeout=3, prepare_threshold=None
            ) as conn:
                await conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    async def kafka_ready(self) -> bool:
        try:
            return bool(await self.infra.broker.ping(timeout=3))
        except Exception:
            return False

    async def projections_ready(self) -> bool:
        running = self.running
        return running is not None and running.runners is not None and running.runners.ready()

    async def projections_report(self) -> dict[str, dict[str, object]]:
        running = self.running
        if running is None or running.runners is None:
            return {}
        return running.runners.status()

    async def parked_report(self) -> int:
        running = self.running
        if running is None or running.runners is None:
            return 0
        return running.runners.parked()

    async def consumers_report(self) -> dict[str, dict[str, object]]:
        """Per consumer group: lag, last progress, and whether it is stalled (messages wait
        and nothing was processed for a while)."""
        consumers = self.running.consumers if self.running is not None else []
        statuses = await asyncio.gather(*(consumer.status() for consumer in consumers))
        return {consumer.name: status for consumer, status in zip(consumers, statuses, strict=True)}
