"""The composition every service shares: keyring and cipher, event-sourced application,
tracked projections, relay, Kafka consumers, dead letters, HTTP app. A service declares
what is its own in a :class:`ServiceSpec`; :func:`create_service_app` wires it at start-up
(nothing is created at import time)."""

# No "from __future__ import annotations": FastAPI must resolve the route signatures that
# refer to local dependencies at runtime.

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

import psycopg
from eventsourcing.projection import Projection
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from psycopg_pool import ConnectionPool

from shared import parking
from shared.access_log import AccessLog
from shared.api import ReadinessCheck, ReadinessReport, create_app
from shared.auth import Authenticator, Principal, Role, principal_dependency, verifier_from_settings
from shared.chain import ChainKeeper, EventChain
from shared.consumer import Consumer, ConsumerProgress, DeadLetters, register
from shared.contracts import Payload, all_topics, topic_of
from shared.database import connection_pool
from shared.dpo_api import build_dpo_router
from shared.erasure import (
    ERASED_KEYS_POLL_SECONDS,
    ConfirmationOutbox,
    ErasureLedgerView,
    Forget,
    erasure_consumer,
    evict_erased_keys,
    forget_nothing,
)
from shared.eventstore import OutreachApplication, TrackedView, build_view, eventsourcing_env
from shared.kafka import build_broker, ensure_topics
from shared.logging import configure_logging
from shared.metrics.endpoint import install_metrics
from shared.ops import read_side_router
from shared.privacy import Keyring, PersonalDataCipher
from shared.projection_runner import BatchingProjectionRunner, ViewMoved
from shared.relay import Mapper, Relay
from shared.settings import ProcessRole, ServiceSettings
from shared.telemetry import configure_telemetry

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a running service holds; handed to routes and consumers."""

    settings: ServiceSettings
    keyring: Keyring
    cipher: PersonalDataCipher
    app: Any
    broker: KafkaBroker
    relay: Relay
    dead_letters: DeadLetters
    pool: ConnectionPool
    access_log: AccessLog
    views: dict[str, TrackedView] = field(default_factory=dict)
    chain: EventChain | None = None
    runners: list[BatchingProjectionRunner[Any, Any]] = field(default_factory=list)
    consumers: list[ConsumerProgress] = field(default_factory=list)

    def view(self, kind: type[TrackedView]) -> Any:
        return self.views[kind.__name__]


@dataclass(frozen=True)
class RelaySpec:
    """A further relay of a service's event log: its topic, mapper and contracts."""

    topic: str
    mapper: Mapper
    publishes: Sequence[type[Payload]]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    title: str
    description: str
    application: Callable[[dict[str, str], PersonalDataCipher], OutreachApplication]
    application_class: type[OutreachApplication]
    mapper: Mapper
    publishes: Sequence[type[Payload]]
    projections: Sequence[tuple[type[Projection[Any]], type[TrackedView]]] = ()
    consumed_views: Sequence[tuple[type[TrackedView], str]] = ()
    """Views fed by Kafka consumers (not by the service's own event log): the view class and
    its name (its tracking table is ``<name>_tracking``). Found with :meth:`Runtime.view`."""
    consumers: Callable[[Runtime], Sequence[Consumer]] = lambda _: ()
    routers: Callable[[Runtime, Authenticator], Sequence[APIRouter]] = lambda _runtime, _auth: ()
    background: Callable[
        [Runtime], Sequence[Callable[[asyncio.Event], Coroutine[Any, Any, None]]]
    ] = lambda _: ()
    """Long-running workers of the service besides the relay (e.g. an outbox): each is
    started after the broker and runs until the event it is given is set at shutdown."""
    export: Callable[[Runtime, UUID, frozenset[str]], dict[str, Any]] = (
        lambda _runtime, _subject, _districts: {}
    )
    """The service's own part of a person's Art. 15 export, of the given districts only
    (the officer's): ``districts`` (those in which it holds something about the person),
    ``personal_data`` (opened) and ``recipients`` (who the data went to). The events and the
    access log are added by ``GET /dpo/subjects/{subject}/export`` (``shared.dpo_api``)."""
    forget: Forget = forget_nothing
    """Drops or blanks the service's view rows of an erased person (``shared.erasure``):
    run by the ``SubjectErased`` consumer every service gets, which also evicts the person's
    key from the process's cache and confirms the erasure."""
    relays: Sequence[RelaySpec] = ()
    """Further relays of the service's own event log, each to a topic of its own (e.g. the
    erasure tombstones of contacts to ``outreach.erasures``)."""


def _start_runner(
    spec: ServiceSpec,
    projection_class: type[Projection[Any]],
    view_class: type[TrackedView],
    env: dict[str, str],
) -> BatchingProjectionRunner[Any, Any]:
    """A started :class:`BatchingProjectionRunner` (a batch of events per transaction)."""
    runner: BatchingProjectionRunner[Any, Any] = BatchingProjectionRunner(
        application_class=spec.application_class,
        projection_class=projection_class,
        view_class=view_class,
        env=env,
    )
    # Entered here, so that ``__exit__`` at shutdown (or on a restart by the supervisor)
    # stops and joins its threads.
    return runner.__enter__()


async def _supervise(
    runtime: Runtime, spec: ServiceSpec, env: dict[str, str], stopping: asyncio.Event
) -> None:
    """Restart a projection runner that stopped: the database went away, or its tracking
    record moved (a rebuild ended).

    It resumes from its tracking record, so nothing is skipped or applied twice: the batch
    that failed was rolled back as a whole, and the new runner applies it again. While the
    database stays away, the restarts back off (up to ``RESTART_BACKOFF_SECONDS``) and only
    the first failure of a streak is logged with its stack trace.
    """
    streaks: dict[int, int] = {}
    not_before: dict[int, float] = {}
    closed: dict[int, BatchingProjectionRunner[Any, Any]] = {}
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), 0.5)
        for index, runner in enumerate(runtime.runners):
            if stopping.is_set() or not runner.is_interrupted.is_set():
                continue
            if time.monotonic() < not_before.get(index, 0.0):
                continue
            name = runner.projection.name
            projection_class, view_class = spec.projections[index]
            streak = streaks.get(index, 0)
            if closed.get(index) is not runner:  # else: its restart failed, try again
                if runner.status()["last_progress_at"]:
                    streak = 0  # it worked for a while: not the same failure again
                try:
                    runner.run_forever(timeout=0)
                except ViewMoved:
                    streak = -1  # not a failure: start again from the record at once
                except Exception as error:
                    if streak == 0:
                        log.exception(
                            "projection stopped; restarting it", extra={"projection": name}
                        )
                    else:
                        log.warning(
                            "projection stopped again",
                            extra={"projection": name, "error_class": type(error).__name__},
                        )
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(runner.__exit__, None, None, None)
                closed[index] = runner
            streaks[index] = streak + 1
            not_before[index] = time.monotonic() + min(RESTART_BACKOFF_SECONDS, 2.0**streak / 2)
            try:
                fresh = await asyncio.to_thread(
                    _start_runner, spec, projection_class, view_class, env
                )
            except Exception as error:
                log.warning(
                    "projection could not be restarted yet",
                    extra={"projection": name, "error_class": type(error).__name__},
                )
                continue
            runtime.runners[index] = fresh
            runtime.views[view_class.__name__] = fresh.projection.view


RESTART_BACKOFF_SECONDS = 30.0


API_POOL = {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "5"}
"""Connections of each datastore (the application, every view) of an ``api`` process: it
keeps one open and opens up to six under load (instead of four and ten), as several api
processes run beside the worker, each with a datastore per view."""


@contextlib.contextmanager
def schema_lock(dsn: str, what: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock while creating ``what``'s schema.

    Several processes of one deployment (N api processes, a worker beside them) start
    at the same time; PostgreSQL can fail concurrent ``CREATE … IF NOT EXISTS`` of the same
    table, type or index with a unique violation on its catalogue. Under this lock they create
    the schema one after the other (the later ones find it there). Released when the block
    ends (or the connection goes).
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"outreach-schema:{what}",)
        )
        yield


def create_service_app(spec: ServiceSpec, settings: ServiceSettings) -> FastAPI:
    """The service's HTTP app; what its lifespan starts depends on the process role.

    ``all``: everything. ``api``: the routes and what commands and queries need (pools,
    keyring, the application, the views opened under the names the projection runners use,
    the access log); no relay, projection runner, consumer, chain keeper or background work,
    and the broker is not started. ``worker``: the relays, projection runners, consumers, the
    chain keeper and the background work; only health, readiness and ``/ops`` are served.
    """
    configure_logging(spec.name, settings.log_level)
    configure_telemetry(spec.name, settings.otlp_endpoint)
    role = settings.process_role
    serves_api = role is not ProcessRole.WORKER
    runs_work = role is not ProcessRole.API
    env = eventsourcing_env(
        settings, settings.database, **(API_POOL if role is ProcessRole.API else {})
    )
    keyring_pool = connection_pool(
        settings.database_url(settings.keyring_database), min_size=1, max_size=8
    )
    pool = connection_pool(settings.database_url(settings.database), min_size=1, max_size=4)
    keyring = Keyring(
        keyring_pool,
        base64.b64decode(settings.secret("keyring_kek")),
        cache_seconds=settings.key_cache_seconds,
    )
    cipher = PersonalDataCipher(keyring, settings.secret("blind_index_key").encode())
    broker = build_broker(settings, spec.name)
    authenticate = principal_dependency(verifier_from_settings(settings))
    holder: dict[str, Runtime] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        keyring_pool.open(wait=True)
        pool.open(wait=True)
        with schema_lock(settings.database_url(settings.keyring_database), "keyring"):
            keyring.create_schema()
        with schema_lock(settings.database_url(settings.database), settings.database):
            application = spec.application(env, cipher)
            dead_letters = DeadLetters(broker, pool)
            dead_letters.create_schema()
            with pool.connection() as conn:
                parking.create_schema(conn.cursor())
            chain = EventChain(pool, application.name, deployment=settings.service_name)
            chain.create_schema()
            access_log = AccessLog(pool, settings.service_name)
            access_log.create_schema()
            relay = Relay(
                app=application,
                broker=broker,
                topic=topic_of(spec.name),
                mapper=spec.mapper,
                contracts=spec.publishes,
                lock_dsn=settings.database_url(settings.database),
            )
            more_relays = [
                Relay(
                    app=application,
                    broker=broker,
                    topic=extra.topic,
                    mapper=extra.mapper,
                    contracts=extra.publishes,
                    lock_dsn=settings.database_url(settings.database),
                )
                for extra in spec.relays
            ]
            runtime = Runtime(
                settings,
                keyring,
                cipher,
                application,
                broker,
                relay,
                dead_letters,
                pool,
                access_log,
            )
            runtime.chain = chain
            for projection_class, view_class in spec.projections:
                if runs_work:
                    runtime.runners.append(_start_runner(spec, projection_class, view_class, env))
                    runtime.views[view_class.__name__] = runtime.runners[-1].projection.view
                else:  # the same view (and tracking table) the worker's runner writes
                    runtime.views[view_class.__name__] = await asyncio.to_thread(
                        build_view, view_class, env, projection_class.name
                    )
            for view_class, view_name in spec.consumed_views:
                runtime.views[view_class.__name__] = await asyncio.to_thread(
                    build_view, view_class, env, view_name
                )
            ledger = await asyncio.to_thread(build_view, ErasureLedgerView, env, "erasure_ledger")
            runtime.views[ErasureLedgerView.__name__] = ledger
        holder["runtime"] = runtime
        if serves_api:
            for router in spec.routers(runtime, authenticate):
                http.include_router(router)
        stopping = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        if runs_work:
            await asyncio.to_thread(ensure_topics, settings, all_topics())
            forgetting = erasure_consumer(
                prefix=settings.service_name, ledger=ledger, keyring=keyring, forget=spec.forget
            )
            for consumer in (*spec.consumers(runtime), forgetting):
                runtime.consumers.append(
                    register(
                        broker,
                        consumer,
                        dead_letters,
                        retries=settings.consumer_retries,
                        offset_reset=settings.consumer_offset_reset,
                    )
                )
            confirmations = ConfirmationOutbox(
                ledger,
                broker,
                service=spec.name,
                deployment=settings.service_name,
                # In the split layout: after the api processes' next two reads of the ledger.
                settle=timedelta(
                    seconds=2 * ERASED_KEYS_POLL_SECONDS if role is ProcessRole.WORKER else 0
                ),
            )
            await broker.start()
            keeper = ChainKeeper(chain, broker, anchor_every=settings.chain_anchor_seconds)
            tasks += [
                asyncio.create_task(relay.run(stopping), name=f"{spec.name}-relay"),
                asyncio.create_task(_supervise(runtime, spec, env, stopping)),
                asyncio.create_task(keeper.run(stopping), name=f"{spec.name}-chain"),
            ]
            tasks += [
                asyncio.create_task(work(stopping))
                for work in (*spec.background(runtime), confirmations.run)
            ]
            tasks += [asyncio.create_task(extra.run(stopping)) for extra in more_relays]
        else:
            tasks.append(
                asyncio.create_task(
                    evict_erased_keys(ledger, keyring, settings.key_cache_seconds, stopping)
                )
            )
        log.info("service started", extra={"port": settings.port, "process_role": str(role)})
        try:
            yield
        finally:
            stopping.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            if runs_work:
                await broker.stop()
            for runner in runtime.runners:
                runner.stop()
                await asyncio.to_thread(runner.__exit__, None, None, None)
            application.close()
            pool.close()
            keyring_pool.close()

    async def database_ready() -> bool:
        try:
            async with await psycopg.AsyncConnection.connect(
                settings.database_url(settings.database), connect_timeout=3
            ) as conn:
                await conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    async def kafka_ready() -> bool:
        try:
            return bool(await broker.ping(timeout=3))
        except Exception:
            return False

    async def projections_ready() -> bool:
        runtime = holder.get("runtime")
        return runtime is not None and all(
            not runner.is_interrupted.is_set() for runner in runtime.runners
        )

    async def projections_report() -> dict[str, Any]:
        """Each runner's state; parked events do not make the service unready (the view is
        served, the rest of the log flows), they are shown here and under ``/ops/parked``."""
        runtime = holder.get("runtime")
        runners = runtime.runners if runtime is not None else []
        return {runner.projection.name: runner.status() for runner in runners}

    async def parked_report() -> int:
        runtime = holder.get("runtime")
        return sum(r.status()["parked"] for r in runtime.runners) if runtime is not None else 0

    async def consumers_report() -> dict[str, Any]:
        """Per consumer group: lag, last progress, and whether it is stalled (messages wait
        and nothing was processed for a while) — shown, not failing the whole service."""
        runtime = holder.get("runtime")
        consumers = runtime.consumers if runtime is not None else []
        statuses = await asyncio.gather(*(consumer.status() for consumer in consumers))
        return {consumer.name: status for consumer, status in zip(consumers, statuses, strict=True)}

    # Each process reports what it runs: an api process neither uses Kafka nor runs the
    # projections (the worker does, and reports them on its own port).
    readiness: dict[str, ReadinessCheck] = {"database": database_ready}
    reports: dict[str, ReadinessReport] = {}
    if runs_work:
        readiness |= {"kafka": kafka_ready, "projections": projections_ready}
        reports = {
            "parked_events": parked_report,
            "projections": projections_report,
            "consumers": consumers_report,
        }
    http = create_app(
        title=spec.title,
        description=spec.description,
        lifespan=lifespan,
        readiness=readiness,
        reports=reports,
    )

    asyncapi = AsyncAPI(
        broker, title=f"{spec.title} events", version="1.0.0", schema_version="3.0.0"
    )

    @http.get("/asyncapi.json", tags=["docs"], include_in_schema=False)
    async def asyncapi_document() -> JSONResponse:
        return JSONResponse(asyncapi.to_specification().to_jsonable())

    @http.get("/ops/dead-letters", tags=["ops"])
    def dead_letter_counts(
        principal: Annotated[Principal, Depends(authenticate)],
    ) -> dict[str, Any]:
        principal.require(Role.TEAM_LEAD, Role.DATA_PROTECTION_OFFICER)
        runtime = holder["runtime"]
        counts = runtime.dead_letters.counts()
        return {"total": sum(counts.values()), "by_consumer": counts}

    @http.get("/ops/relay", tags=["ops"])
    def relay_status(principal: Annotated[Principal, Depends(authenticate)]) -> dict[str, Any]:
        principal.require(Role.TEAM_LEAD, Role.DATA_PROTECTION_OFFICER)
        relay = holder["runtime"].relay
        status = {
            "process_role": str(role),
            "active": relay.is_active,
            "position": relay.position,
            "published": relay.published,
        }
        if not runs_work:
            # The relay runs in the worker process; its position is the one it recorded.
            status["runs_in"] = "worker"
        return status

    http.include_router(read_side_router(spec, holder, authenticate, role))

    # The data protection routes read the service's data: served by the api processes (and
    # by a process of role all), not by the worker.
    if serves_api:
        http.include_router(
            build_dpo_router(
                authenticate,
                service=settings.service_name,
                kafka_bootstrap=settings.kafka_bootstrap,
                sources=lambda: holder["runtime"],
                export=lambda subject, districts: spec.export(
                    holder["runtime"], subject, districts
                ),
            )
        )
    install_metrics(http, holder, broker, runs_work=runs_work, readiness=readiness)
    http.state.runtime_holder = holder
    return http
