"""The relay: the only way events reach Kafka (never a dual write).

It follows the service's own event log (a :class:`~shared.eventsourcing.follower.LogFollower`,
woken by new events through LISTEN/NOTIFY), maps each domain event to an integration event,
publishes with the idempotent producer, waits for the broker's acknowledgement of the whole
batch, and only then records how far it got (in the service's tracking table). After a crash
of its process it resumes from the recorded position: an event may be published again (at
least once), with the same event id, and consumers de-duplicate by it. When only the database
went away (its position could not be recorded), the relay resumes after what the broker
acknowledged, so an outage of the database publishes nothing twice.

Only one relay per service publishes at a time: it holds a PostgreSQL advisory lock. A
second replica waits in standby and takes over when the lock is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Union

from aiokafka.partitioner import DefaultPartitioner
from eventsourcing.persistence import Notification, Tracking
from faststream.kafka import KafkaBroker
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, set_span_in_context

from shared.contracts import Envelope, Payload, stable_event_id
from shared.eventsourcing.application import OutreachApplication
from shared.eventsourcing.follower import LogFollower
from shared.messaging.kafka import aiokafka_producer
from shared.runtime.background import as_leader
from shared.telemetry import continued_from

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)
CONFIRM_WAIT_SECONDS = 10.0
"""How long a relay that stops waits for the broker's acknowledgement of what it sent."""
_partitioner = DefaultPartitioner()
"""The producer's own (``build_broker`` keeps aiokafka's default): a subject's events go to
the partition of its key, as they did when each was sent on its own."""


@dataclass(frozen=True)
class Outgoing:
    """A mapped integration event and the trace context its domain event was recorded in."""

    envelope: Envelope[Payload]
    trace: dict[str, str]


def outgoing(producer: str, domain_event: Any, payload: Payload | None) -> Outgoing | None:
    """The integration event of a stored domain event (``None`` for an internal event).

    The envelope comes from the event's ``meta`` (see ``shared.eventsourcing.meta.CommandContext``:
    district, subject, correlation and causation, the trace context); its id is stable, so a
    republished event keeps it. The envelope is typed by the payload's own contract (as
    ``parse_envelope`` does), so it serialises with the payload's fields.
    """
    if payload is None:
        return None
    meta = domain_event.meta
    causation = meta.get("causation_id")
    contract = _envelope_of(type(payload))
    # The ids in ``meta`` are strings: the envelope's validation parses them (in pydantic's
    # core, cheaper than ``UUID(...)`` here).
    envelope: Envelope[Payload] = contract(
        event_id=stable_event_id(
            producer, domain_event.originator_id, domain_event.originator_version
        ),
        event_type=payload.event_type,
        schema_version=payload.schema_version,
        occurred_at=domain_event.timestamp,
        producer=producer,
        district=meta["district"],
        subject=meta["subject"],
        correlation_id=meta["correlation_id"],
        causation_id=causation or None,
        payload=payload,
    )
    return Outgoing(envelope=envelope, trace=dict(meta.get("trace") or {}))


@functools.cache
def _envelope_of(payload_type: type[Payload]) -> Any:
    """``Envelope[payload_type]``: the parametrised model, made once per payload type."""
    return Envelope[payload_type]  # type: ignore[valid-type]


Mapper = Callable[[Any], Outgoing | None]
"""Maps a domain event to what is published (``None``: the event stays internal).

Whether an event is published depends on its type alone (every mapper dispatches on the
domain event's class): once the mapper returned ``None`` for an event, the relay skips the
stored events of that topic without decoding them."""


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
        self._broker = broker
        self._batch_size = batch_size
        self._retry_seconds = retry_seconds
        self.tracking_name = f"relay:{topic}"
        self._lock_key = f"outreach-relay:{app.name}:{topic}"
        # Declares the topic and its contracts (the AsyncAPI schema); the messages are sent
        # through the broker's producer a batch at a time (``_send``).
        self.publisher = broker.publisher(
            topic,
            title=f"{topic}:publish",
            description=f"Integration events recorded by the {app.name} service.",
            schema=Union[tuple(Envelope[c] for c in contracts)],  # type: ignore[valid-type]  # noqa: UP007
        )
        self._internal_topics: set[str] = set()
        self.is_active = False
        self.published = 0
        self.last_published_at: float | None = None
        """When a batch was last acknowledged by Kafka and recorded (Unix time)."""
        self.recorded = 0
        """The last position this relay recorded (in memory: no query, unlike
        :attr:`position`); 0 until it recorded one."""
        self._acked: Notification | None = None
        """The last stored event that the broker acknowledged together with every one
        before it, recorded as the position or not (yet)."""
        self._acked_up_to = 0
        """The position up to which everything is published: where this relay started
        (recorded, or acknowledged before), then :attr:`_acked`."""

    @property
    def position(self) -> int:
        return self._app.recorder.max_tracking_id(self.tracking_name) or 0

    async def run(self, stopping: asyncio.Event) -> None:
        """Publish until ``stopping`` is set; standby while another replica holds the lock."""
        await as_leader(
            self._lock_dsn,
            self._lock_key,
            self._publish,
            retry_seconds=self._retry_seconds,
            name=f"relay of {self._topic}",
        )(stopping)

    async def _publish(self, stopping: asyncio.Event) -> None:
        """Publish (holding the lock) until ``stopping`` is set; after an error the relay
        resumes from its recorded position."""
        self.is_active = True
        log.info("relay active", extra={"topic": self._topic})
        try:
            await self._pump(stopping)
        finally:
            self.is_active = False

    async def _pump(self, stopping: asyncio.Event) -> None:
        start = await asyncio.to_thread(self._resume_position)
        self._acked_up_to = start
        follower = LogFollower(self._app.recorder, gt=start, batch_size=self._batch_size)
        # While the broker acknowledges one batch, the next one is mapped and sent (at most
        # two batches unacknowledged); the positions are recorded in order, each as soon as
        # its batch and every batch before it are acknowledged.
        confirming: asyncio.Task[None] | None = None
        previous_last = start
        try:
            await asyncio.to_thread(follower.start)
            while not stopping.is_set():
                batch = await asyncio.to_thread(follower.next_batch)
                if batch:
                    sent, count = await self._send(batch)
                    previous = confirming
                    confirming = asyncio.create_task(
                        self._confirm(sent, count, batch[-1], after=previous, follows=previous_last)
                    )
                    previous_last = batch[-1].id
                    if previous is not None:
                        await previous
                elif confirming is not None and confirming.done():
                    confirming.result()  # raises what went wrong
                    confirming = None
            if confirming is not None:
                await confirming
        finally:
            await self._settle(confirming)
            follower.stop()

    @staticmethod
    async def _settle(confirming: asyncio.Task[None] | None) -> None:
        """When the pump ends: the last batch's messages are on their way; what the broker
        acknowledges counts as published (see :meth:`_resume_position`), what it does not is
        published again."""
        if confirming is not None and not confirming.done():
            await asyncio.wait({confirming}, timeout=CONFIRM_WAIT_SECONDS)
            confirming.cancel()
        if confirming is not None and confirming.done() and not confirming.cancelled():
            confirming.exception()  # seen: the error that ended the pump is raised

    async def _send(self, batch: list[Notification]) -> tuple[list[asyncio.Future[Any]], int]:
        """Send the batch's messages without waiting for them: appended to one producer
        batch per partition (the partition of the key, as the producer's default
        partitioner picks it), each submitted when full and at the end. Returns the futures
        of the brokers' acknowledgements and the number of messages."""
        producer = aiokafka_producer(self._broker)
        partitions = sorted(await producer.partitions_for(self._topic))
        filling: dict[int, Any] = {}
        sent: list[asyncio.Future[Any]] = []
        count = 0
        for notification in batch:
            if notification.topic in self._internal_topics:
                continue
            outgoing = self._mapper(self._app.mapper.to_domain_event(notification))
            if outgoing is None:
                self._internal_topics.add(notification.topic)
                continue
            envelope = outgoing.envelope
            key = envelope.subject.bytes
            headers = {
                "content-type": "application/json",
                "correlation_id": str(envelope.correlation_id),
                "event-type": envelope.event_type,
            }
            with self._spans(outgoing.trace, headers):
                record = {
                    "key": key,
                    "value": envelope.model_dump_json(serialize_as_any=True).encode(),
                    "timestamp": None,
                    "headers": [(name, value.encode()) for name, value in headers.items()],
                }
                partition = _partitioner(key, partitions, partitions)
                builder = filling.get(partition)
                if builder is None or builder.append(**record) is None:
                    if builder is not None:  # full: off it goes, the next one takes it
                        sent.append(
                            await producer.send_batch(builder, self._topic, partition=partition)
                        )
                    builder = filling[partition] = producer.create_batch()
                    builder.append(**record)  # the first record always fits
            count += 1
        for partition, builder in filling.items():
            sent.append(await producer.send_batch(builder, self._topic, partition=partition))
        return sent, count

    def _resume_position(self) -> int:
        """Where publishing goes on: after the recorded position, or after what the broker
        acknowledged when that is further (its position could not be recorded because the
        database went away) and still stored as it was; it is recorded first."""
        recorded = self.position
        acked = self._acked
        if acked is None or acked.id <= recorded:
            return recorded
        stored = self._app.recorder.select_notifications(acked.id, 1)
        if not stored or (stored[0].id, stored[0].originator_id, stored[0].originator_version) != (
            acked.id,
            acked.originator_id,
            acked.originator_version,
        ):
            # Not stored any more (the database lost commits it had answered): what follows
            # the recorded position is published again, whatever the broker holds.
            log.warning(
                "events acknowledged by the broker are not in the event store",
                extra={"topic": self._topic, "acknowledged": acked.id, "recorded": recorded},
            )
            self._acked = None
            return recorded
        self._app.recorder.insert_tracking(Tracking(self.tracking_name, acked.id))
        self.recorded = acked.id
        return acked.id

    async def _confirm(
        self,
        sent: list[asyncio.Future[Any]],
        count: int,
        last: Notification,
        *,
        after: asyncio.Task[None] | None,
        follows: int,
    ) -> None:
        """Record ``last`` as the position once the broker acknowledged every message sent
        up to it (acks=all; the batch ``after``, which ends at ``follows``, is recorded
        first): at least once, nothing skipped."""
        await asyncio.gather(*sent)
        try:
            if after is not None:
                await after
        finally:
            # Acknowledged together with every batch before it, even if recording the
            # previous position failed: published, so not to be published again.
            if self._acked_up_to >= follows:
                self._acked, self._acked_up_to = last, last.id
        await asyncio.to_thread(
            self._app.recorder.insert_tracking, Tracking(self.tracking_name, last.id)
        )
        self.recorded = last.id
        self.published += count
        self.last_published_at = time.time()

    @contextlib.contextmanager
    def _spans(self, carrier: dict[str, str], headers: dict[str, str]) -> Iterator[None]:
        """The message's producer spans in the trace its event was recorded in (``create``,
        whose context travels in ``headers`` to the consumers, and ``publish``), as
        FastStream's telemetry middleware makes them. An event recorded outside any trace
        starts none."""
        if not carrier:
            yield
            return
        attributes = {"messaging.system": "kafka", "messaging.destination.name": self._topic}
        with continued_from(carrier):
            create = _tracer.start_span(
                f"{self._topic} create", kind=SpanKind.PRODUCER, attributes=attributes
            )
            context = set_span_in_context(create)
            propagate.inject(headers, context=context)
            create.end()
            with _tracer.start_as_current_span(
                f"{self._topic} publish",
                kind=SpanKind.PRODUCER,
                attributes={**attributes, "messaging.operation": "publish"},
                context=context,
            ):
                yield
