"""The relay: the only way events reach Kafka (never a dual write).

It follows the service's own event log through the library's subscription (LISTEN/NOTIFY, so
it is woken by new events), maps each domain event to an integration event, publishes with
the idempotent producer, waits for the broker's acknowledgement of the whole batch, and only
then records how far it got (in the service's tracking table). After a crash it resumes from
the recorded position: an event may be published again (at least once), with the same event
id, and consumers de-duplicate by it.

Only one relay per service publishes at a time: it holds a PostgreSQL advisory lock. A
second replica waits in standby and takes over when the lock is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union
from uuid import UUID

import psycopg
from eventsourcing.persistence import Notification, Tracking
from faststream.kafka import KafkaBroker

from shared.contracts import Envelope, Payload, stable_event_id
from shared.eventstore import OutreachApplication
from shared.telemetry import continued_from

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """A mapped integration event and the trace context its domain event was recorded in."""

    envelope: Envelope[Payload]
    trace: dict[str, str]


def outgoing(producer: str, domain_event: Any, payload: Payload | None) -> Outgoing | None:
    """The integration event of a stored domain event (``None`` for an internal event).

    The envelope comes from the event's ``meta`` (see ``shared.eventstore.CommandContext``:
    district, subject, correlation and causation, the trace context); its id is stable, so a
    republished event keeps it. The envelope is typed by the payload's own contract (as
    ``parse_envelope`` does), so it serialises with the payload's fields.
    """
    if payload is None:
        return None
    meta = domain_event.meta
    causation = meta.get("causation_id")
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    envelope: Envelope[Payload] = contract(
        event_id=stable_event_id(
            producer, domain_event.originator_id, domain_event.originator_version
        ),
        event_type=payload.event_type,
        schema_version=payload.schema_version,
        occurred_at=domain_event.timestamp,
        producer=producer,
        district=meta["district"],
        subject=UUID(meta["subject"]),
        correlation_id=UUID(meta["correlation_id"]),
        causation_id=UUID(causation) if causation else None,
        payload=payload,
    )
    return Outgoing(envelope=envelope, trace=dict(meta.get("trace") or {}))


Mapper = Callable[[Any], Outgoing | None]
"""Maps a domain event to what is published (``None``: the event stays internal)."""


class Relay:
    def __init__(
        self,
        *,
        app: OutreachApplication,
        broker: KafkaBroker,
        topic: str,
        mapper: Mapper,
        contracts: Sequence[type[Payload]],
        lock_dsn: str,
        batch_size: int = 500,
        retry_seconds: float = 2.0,
    ) -> None:
        self._app = app
        self._topic = topic
        self._mapper = mapper
        self._lock_dsn = lock_dsn
        self._batch_size = batch_size
        self._retry_seconds = retry_seconds
        self.tracking_name = f"relay:{topic}"
        self._lock_key = f"outreach-relay:{app.name}:{topic}"
        self.publisher = broker.publisher(
            topic,
            title=f"{topic}:publish",
            description=f"Integration events recorded by the {app.name} service.",
            schema=Union[tuple(Envelope[c] for c in contracts)],  # type: ignore[valid-type]  # noqa: UP007
        )
        self.is_active = False
        self.published = 0

    @property
    def position(self) -> int:
        return self._app.recorder.max_tracking_id(self.tracking_name) or 0

    async def run(self, stopping: asyncio.Event) -> None:
        """Publish until ``stopping`` is set; standby while another replica holds the lock."""
        while not stopping.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._lock_dsn, autocommit=True
                ) as lock_conn:
                    if await self._try_lock(lock_conn):
                        self.is_active = True
                        log.info("relay active", extra={"topic": self._topic})
                        try:
                            await self._pump(stopping)
                        finally:
                            self.is_active = False
            except Exception:
                log.exception("relay interrupted; resuming from its recorded position")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._retry_seconds)

    async def _try_lock(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        cursor = await conn.execute(
            "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (self._lock_key,)
        )
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def _pump(self, stopping: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize=self._batch_size * 4)
        subscription = self._app.recorder.subscribe(gt=self.position)
        reader_error: list[BaseException] = []

        def read() -> None:
            try:
                with subscription:
                    for notification in subscription:
                        asyncio.run_coroutine_threadsafe(queue.put(notification), loop).result()
            except BaseException as error:  # surfaced in the async loop below
                reader_error.append(error)

        reader = threading.Thread(target=read, name=f"relay-reader-{self._topic}", daemon=True)
        reader.start()
        try:
            while not stopping.is_set():
                if reader_error:
                    raise reader_error[0]
                batch = await self._next_batch(queue, stopping)
                if batch:
                    await self._publish(batch)
        finally:
            subscription.stop()
            await asyncio.to_thread(reader.join, 5)

    async def _next_batch(
        self, queue: asyncio.Queue[Notification], stopping: asyncio.Event
    ) -> list[Notification]:
        try:
            first = await asyncio.wait_for(queue.get(), 0.5)
        except TimeoutError:
            return []
        batch = [first]
        while len(batch) < self._batch_size and not queue.empty():
            batch.append(queue.get_nowait())
        return batch

    async def _publish(self, batch: list[Notification]) -> None:
        pending = []
        for notification in batch:
            outgoing = self._mapper(self._app.mapper.to_domain_event(notification))
            if outgoing is None:
                continue
            envelope = outgoing.envelope
            with continued_from(outgoing.trace):
                pending.append(
                    await self.publisher.publish(
                        envelope.model_dump(mode="json", serialize_as_any=True),
                        key=envelope.subject.bytes,
                        correlation_id=str(envelope.correlation_id),
                        headers={"event-type": envelope.event_type},
                        no_confirm=True,
                    )
                )
        await asyncio.gather(*pending)  # the broker acknowledged every message (acks=all)
        last = batch[-1].id
        await asyncio.to_thread(
            self._app.recorder.insert_tracking, Tracking(self.tracking_name, last)
        )
        self.published += len(pending)
