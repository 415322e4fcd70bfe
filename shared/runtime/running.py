"""A service process from start-up to shutdown: what it opens, what its role runs, what the
``/ops`` and ``/dpo`` routes and readiness read of it.

Every role opens the infrastructure, the service (its application and views) and the views
of its event log, creating each schema under its advisory lock. ``all`` and ``worker`` also
run the work: the relays, a projection runner per projection (restarted when it stops), the
consumers (the service's and the erasure consumer every service has), the chain keeper, the
erasure confirmations and the service's background work. An ``api`` process runs none of it;
it evicts the keys of persons the worker forgot from its own key cache.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from shared.chain import ChainKeeper, EventChain
from shared.contracts import all_topics
from shared.erasure import (
    ERASED_KEYS_POLL_SECONDS,
    ConfirmationOutbox,
    ErasureLedgerView,
    erasure_consumer,
    evict_erased_keys,
)
from shared.errors import NotFoundError
from shared.eventsourcing.projections import ViewProjection
from shared.messaging.consumer import ConsumerProgress
from shared.messaging.kafka import ensure_topics
from shared.messaging.relay import Relay
from shared.messaging.subscription import register
from shared.runtime.infrastructure import Infrastructure
from shared.runtime.service import Service
from shared.runtime.supervision import ProjectionRunners
from shared.settings import ProcessRole

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Running:
    """A started process of a service (``request.app.state.running``)."""

    infra: Infrastructure
    service: Service[object]
    projections: list[ViewProjection]
    """The projections of its event log, over the views this process opened."""
    relays: list[Relay]
    chain: EventChain
    ledger: ErasureLedgerView
    runners: ProjectionRunners | None
    """The projection runners (``None`` in an ``api`` process: the worker runs them)."""
    consumers: list[ConsumerProgress] = field(default_factory=list)

    @property
    def role(self) -> ProcessRole:
        return self.infra.settings.process_role

    def projection(self, name: str) -> ViewProjection:
        """The projection ``name`` over the view this process has open (404 if none)."""
        for projection in self.projections:
            if projection.name == name:
                return projection
        raise NotFoundError(f"no projection {name!r} in this service")


def open_running(infra: Infrastructure, open_service: Callable[[], Service[object]]) -> Running:
    """Open the infrastructure, the service and the views of its log (blocking: call it in
    a thread). The service's tables and views are created under its schema lock."""
    infra.open()
    with infra.schema_lock():
        service = open_service()
        chain = EventChain(infra.pool, service.app.name, deployment=infra.settings.service_name)
        chain.create_schema()
        projections = [p.over(infra.view(p.view, p.name)) for p in service.log.projections]
        ledger = infra.view(ErasureLedgerView, "erasure_ledger")
    relays = [
        Relay(
            app=service.app,
            broker=infra.broker,
            topic=relay.topic,
            mapper=relay.mapper,
            contracts=relay.contracts,
            lock_dsn=infra.dsn,
        )
        for relay in service.relays
    ]
    runs_work = infra.settings.process_role is not ProcessRole.API
    # A runner's own application only reads the log (one query at a time): a small pool.
    runner_env = {**infra.env, "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "1"}
    runners = (
        ProjectionRunners(service.log.application, projections, runner_env) if runs_work else None
    )
    return Running(infra, service, projections, relays, chain, ledger, runners)


async def start_work(running: Running, stopping: asyncio.Event) -> list[asyncio.Task[None]]:
    """Start what a process of role ``all`` or ``worker`` runs; its tasks end once
    ``stopping`` is set."""
    infra, service = running.infra, running.service
    settings = infra.settings
    await asyncio.to_thread(ensure_topics, settings, all_topics())
    forgetting = erasure_consumer(
        prefix=settings.service_name,
        ledger=running.ledger,
        keyring=infra.keyring,
        forget=service.forget,
    )
    for consumer in (*service.consumers, forgetting):
        running.consumers.append(
            register(
                infra.broker,
                consumer,
                infra.dead_letters,
                retries=settings.consumer_retries,
                offset_reset=settings.consumer_offset_reset,
            )
        )
    confirmations = ConfirmationOutbox(
        running.ledger,
        infra.broker,
        service=infra.name,
        deployment=settings.service_name,
        # In the split layout: after the api processes' next two reads of the ledger.
        settle=timedelta(
            seconds=2 * ERASED_KEYS_POLL_SECONDS if running.role is ProcessRole.WORKER else 0
        ),
    )
    await infra.broker.start()
    assert running.runners is not None
    await asyncio.to_thread(_start_runners, running)
    keeper = ChainKeeper(running.chain, infra.broker, anchor_every=settings.chain_anchor_seconds)
    works = [
        *(relay.run for relay in running.relays),
        running.runners.supervise,
        keeper.run,
        *service.background,
        confirmations.run,
    ]
    return [asyncio.create_task(work(stopping)) for work in works]


def _start_runners(running: Running) -> None:
    """Start the projection runners under the schema lock: each builds an application of its
    own, whose tables the replicas of a service starting at the same moment would otherwise
    create at once (PostgreSQL fails one of concurrent catalogue updates)."""
    assert running.runners is not None
    with running.infra.schema_lock():
        running.runners.start()


def start_key_eviction(running: Running, stopping: asyncio.Event) -> list[asyncio.Task[None]]:
    """An ``api`` process: evict the keys of persons the worker forgot from its own cache."""
    infra = running.infra
    evicting = evict_erased_keys(
        running.ledger, infra.keyring, infra.settings.key_cache_seconds, stopping
    )
    return [asyncio.create_task(evicting)]


async def stop(running: Running, tasks: list[asyncio.Task[None]], stopping: asyncio.Event) -> None:
    """Stop the work (each task ends), the broker, the runners; close what was opened."""
    stopping.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    if running.runners is not None:
        await running.infra.broker.stop()
        await running.runners.stop()
    running.service.app.close()
    running.infra.close()
