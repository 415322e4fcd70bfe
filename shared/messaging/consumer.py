"""The consumer pattern every service uses for integration events.

- Messages come in batches (FastStream's batch subscriber: what the partitions hold, up to
  ``batch_size``). A batch is acknowledged only after every message in it was processed
  (FastStream ``NACK_ON_ERROR``: success commits the offsets, an unhandled error seeks every
  partition back to the batch's first message so the batch is delivered again).
- Each message is processed in a command context of its own (:mod:`shared.eventsourcing.meta`):
  what its effect records, the service records, caused by the message, in its correlation.
- De-duplicate by event id: the effect is stored together with the message's row in
  ``processed_messages`` (consumer group, event id, topic, partition, offset), in the same
  transaction (:mod:`shared.messaging.processed`; see
  :meth:`shared.eventsourcing.application.OutreachApplication.save_tracked` and
  :class:`TrackedView`).
- The effects on a view's rows (:func:`view_effect`) of a whole batch are applied in one
  transaction, each event recorded as processed in it
  (:meth:`TrackedView.apply_batch`). Other effects (those saving event-sourced aggregates)
  are applied one event after the other, each in a transaction of its own.
- A message that cannot be processed (not a valid contract, or rejected by the domain, or
  still failing after retries) is parked in ``<topic>.dlq`` with the error and counted; the
  partition keeps flowing. When one event of a batch fails, the batch's transaction is
  rolled back and its events are applied one by one, so only that one is parked. While the
  database is unreachable nothing is parked: the batch is delivered again, because nothing
  accepted may be lost.
- Whatever a record holds, only that record leaves the batch: headers that are not UTF-8
  (FastStream's batch parser would fail the whole batch on them, and its acknowledgement
  with it, so the batch would be skipped unprocessed: :func:`_tolerant_batch_parser` sets
  them aside for the handler to park), no value, more than ``MAX_MESSAGE_BYTES``, bytes that
  are not JSON or JSON nested too deep, any contract violation, and an exception of any class
  while applying it (after retries). The reasons stored name the fault, never a value of the
  message.
- :class:`ConsumerProgress` keeps each consumer group's progress for readiness and
  ``/ops/consumers``: processed and parked messages, lag per partition, last progress, and
  ``stalled`` when messages wait and nothing moved for ``stall_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from eventsourcing.persistence import Tracking
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from opentelemetry import propagate, trace
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg_pool import ConnectionPool
from pydantic import ValidationError

from shared.contracts import Envelope, Payload, UnknownEventTypeError, dead_letter_topic
from shared.contracts import parse_envelope as parse_contract
from shared.errors import ApplicationError
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.eventsourcing.parking import database_away, describe
from shared.eventsourcing.views import TrackedView
from shared.messaging.processed import Delivery, delivery

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

Effect = Callable[[Envelope[Payload], Tracking], bool]
"""Applies one event with its tracking record in one transaction; ``False`` if seen before."""

MAX_MESSAGE_BYTES = 256 * 1024
"""A message larger than this is parked unread (an envelope is a few kilobytes)."""


UNREADABLE_HEADER = "outreach-unreadable-header"
"""Put in place of each header whose value is not UTF-8 (the value: that header's name), so
the batch parser can decode the rest and the handler parks the record."""


def _decodable(record: Any) -> Any:
    """``record``, or a copy of it whose headers that are not UTF-8 are named instead."""
    headers = record.headers or ()
    bad: list[str] = []
    for name, value in headers:
        try:
            value.decode()
        except (UnicodeDecodeError, AttributeError):
            bad.append(name)
    if not bad:
        return record
    kept = [(n, v) for n, v in headers if n not in bad]
    return replace(record, headers=(*kept, *((UNREADABLE_HEADER, n.encode()) for n in bad)))


async def _tolerant_batch_parser(
    records: tuple[Any, ...], parse: Callable[[tuple[Any, ...]], Awaitable[Any]]
) -> Any:
    """FastStream's batch parser, given the records without headers it cannot decode."""
    return await parse(tuple(_decodable(record) for record in records))


def _unreadable(record: Any) -> str | None:
    """Why ``record`` cannot be read as a message at all (``None``: it can be)."""
    bad = [value.decode() for name, value in record.headers or () if name == UNREADABLE_HEADER]
    if bad:
        return f"unreadable headers: not UTF-8: {', '.join(bad)}"
    if record.value is None:
        return "invalid contract: the message has no value"
    if len(record.value) > MAX_MESSAGE_BYTES:
        return (
            f"invalid contract: the message has {len(record.value)} bytes, "
            f"more than {MAX_MESSAGE_BYTES}"
        )
    return None


def _contract_error(error: Exception) -> str:
    """What is wrong with a message, without its values."""
    if isinstance(error, ValidationError):
        problems = [
            f"{'.'.join(str(part) for part in e['loc']) or '(message)'}: {e['type']}"
            for e in error.errors(include_url=False, include_input=False)[:10]
        ]
        return "; ".join(problems)
    if isinstance(error, UnknownEventTypeError | ValueError):
        return str(error)[:200]  # names the event type or where the JSON breaks
    return type(error).__name__


class ConsumerProgress:
    """How far a consumer group got: kept by its handler, shown by readiness and ``/ops``."""

    def __init__(self, consumer: Consumer, stall_seconds: float = 60.0) -> None:
        self.name = consumer.name
        self.topic = consumer.topic
        self.stall_seconds = stall_seconds
        self.processed = 0
        self.parked = 0
        self.retried = 0
        self.started = time.time()
        self.last_progress: float | None = None
        self.subscriber: Any = None
        self._next: dict[int, int] = {}

    def advanced(self, records: Sequence[Any]) -> None:
        for record in records:
            self._next[record.partition] = max(
                self._next.get(record.partition, 0), record.offset + 1
            )
        self.processed += len(records)
        self.last_progress = time.time()

    async def lag(self) -> dict[int, int]:
        """Messages waiting per assigned partition (from the last fetch's high watermark):
        behind what was processed, or, before the first one, behind the fetch position (asked
        of the client for all such partitions at once, for at most a tenth of a second)."""
        consumer = getattr(self.subscriber, "consumer", None)
        if consumer is None:
            return {}

        async def fetch_position(tp: Any) -> int | None:
            with contextlib.suppress(Exception):
                return int(await asyncio.wait_for(consumer.position(tp), 0.1))
            return None

        assigned = list(consumer.assignment())
        unknown = [tp for tp in assigned if tp.partition not in self._next]
        fetched = await asyncio.gather(*(fetch_position(tp) for tp in unknown))
        positions = dict(zip(unknown, fetched, strict=True))
        waiting: dict[int, int] = {}
        for tp in assigned:
            highwater = consumer.highwater(tp)
            position = self._next.get(tp.partition, positions.get(tp))
            if highwater is not None and position is not None:
                waiting[tp.partition] = max(0, highwater - position)
        return waiting

    async def status(self) -> dict[str, Any]:
        waiting = await self.lag()
        since = self.last_progress or self.started
        return {
            "topic": self.topic,
            "processed": self.processed,
            "parked": self.parked,
            "lag": sum(waiting.values()),
            "lag_by_partition": waiting,
            "last_progress_at": (
                None
                if self.last_progress is None
                else datetime.fromtimestamp(self.last_progress, UTC).isoformat()
            ),
            "stalled": sum(waiting.values()) > 0 and time.time() - since > self.stall_seconds,
        }


@dataclass(frozen=True)
class Consumer:
    name: str
    """Consumer group (its messages' rows in ``processed_messages`` are under this name)."""
    topic: str
    effect: Effect
    event_types: frozenset[str] | None = None
    """Event types this consumer applies; other types are acknowledged and skipped."""
    description: str = ""

    def delivery_of(self, envelope: Envelope[Payload], record: Any = None) -> Delivery:
        """The message ``envelope`` as this consumer group processes it (``record``: the
        Kafka record it came in, whose topic, partition and offset are recorded with it)."""
        return delivery(
            self.name,
            envelope.event_id,
            topic=getattr(record, "topic", None),
            partition=getattr(record, "partition", None),
            offset=getattr(record, "offset", None),
        )


DEAD_LETTER_SQL = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id bigserial PRIMARY KEY,
    consumer text NOT NULL,
    topic text NOT NULL,
    partition int NOT NULL,
    "offset" bigint NOT NULL,
    event_id text,
    error text NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer, topic, partition, "offset")
)
"""


class DeadLetters:
    """Parks unprocessable messages in ``<topic>.dlq`` and counts them per consumer."""

    def __init__(self, broker: KafkaBroker, pool: ConnectionPool) -> None:
        self._broker = broker
        self._pool = pool

    def create_schema(self) -> None:
        with self._pool.connection() as conn:
            conn.execute(DEAD_LETTER_SQL)

    async def park(self, consumer: Consumer, record: Any, event_id: str | None, error: str) -> None:
        """Park one Kafka record (an ``aiokafka`` ``ConsumerRecord``) of ``consumer``."""
        await self._broker.publish(
            record.value,
            topic=dead_letter_topic(record.topic),
            key=record.key,
            headers={
                "consumer": consumer.name,
                "error": error[:1000],
                "source": f"{record.topic}/{record.partition}/{record.offset}",
            },
        )
        await asyncio.to_thread(self._record, consumer, record, event_id, error)
        log.warning(
            "message parked in dead-letter topic",
            extra={"consumer": consumer.name, "topic": record.topic, "event_id": event_id},
        )

    def _record(self, consumer: Consumer, record: Any, event_id: str | None, error: str) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                'INSERT INTO dead_letters (consumer, topic, partition, "offset", event_id, error) '
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (consumer.name, record.topic, record.partition, record.offset, event_id, error),
            )

    def counts(self) -> dict[str, int]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT consumer, count(*) FROM dead_letters GROUP BY consumer"
            ).fetchall()
        return {str(name): int(n) for name, n in rows}


async def _raw_bodies(message: KafkaMessage) -> Any:
    return message.body


def register(
    broker: KafkaBroker,
    consumer: Consumer,
    dead_letters: DeadLetters,
    *,
    retries: int = 3,
    backoff_seconds: float = 0.5,
    offset_reset: Literal["earliest", "latest"] = "earliest",
    batch_size: int = 500,
    batch_wait_ms: int = 50,
    retry_seconds: float = 60.0,
    stall_seconds: float = 60.0,
) -> ConsumerProgress:
    """Subscribe ``consumer`` to its topic on ``broker``; returns its progress.

    Up to ``batch_size`` messages are taken at a time; with none there, the subscriber looks
    again after ``batch_wait_ms`` (the most an idle consumer adds to an event's latency). A
    failing event is retried ``retries`` times with backoff, within ``retry_seconds`` for the
    whole batch (after that, a failing event is parked at once). A consumer group without a
    committed offset starts at the beginning of the topic (``offset_reset="latest"`` only
    for benchmark runs that must not replay the topic). The consumer is ``stalled`` in its
    progress when messages wait and none was processed for ``stall_seconds``.
    """
    progress = ConsumerProgress(consumer, stall_seconds)

    async def park(record: Any, event_id: str | None, error: str) -> None:
        await dead_letters.park(consumer, record, event_id, error)
        progress.parked += 1

    async def apply_one(record: Any, envelope: Envelope[Payload], retry_until: float) -> None:
        """One event in a transaction of its own: retried, parked when it keeps failing (or
        once the batch's time for retries is up: a batch must finish well within Kafka's
        ``max_poll_interval_ms``, or the group would take it away and deliver it again)."""
        tracking = consumer.delivery_of(envelope, record)
        attempt = 0
        while True:
            try:
                # What the effect records, the service records because of this message.
                with acting_as(
                    CommandContext.following(envelope.event_id, envelope.correlation_id)
                ):
                    applied = await asyncio.to_thread(consumer.effect, envelope, tracking)
                log.info(
                    "event applied" if applied else "duplicate event skipped",
                    extra={
                        "consumer": consumer.name,
                        "event_id": str(envelope.event_id),
                        "event_type": envelope.event_type,
                    },
                )
                return
            except ApplicationError as error:
                await park(record, str(envelope.event_id), f"{error.code}: {error.detail}")
                return
            except Exception as error:
                if database_away(error):
                    await asyncio.sleep(backoff_seconds * 4)
                    raise  # deliver the batch again later, park nothing
                attempt += 1
                if attempt > retries or time.monotonic() > retry_until:
                    error_class, message = describe(error)
                    await park(record, str(envelope.event_id), f"{error_class}: {message}")
                    return
                progress.retried += 1
                await asyncio.sleep(backoff_seconds * 2 ** (attempt - 1))

    async def apply_together(
        effect: ViewEffect, events: list[tuple[Any, Envelope[Payload]]]
    ) -> bool:
        """The whole batch in one transaction; ``False`` if it has to go one by one."""
        try:
            applied = await asyncio.to_thread(
                effect.apply_batch, [(e, consumer.delivery_of(e, r)) for r, e in events]
            )
        except Exception as error:  # one of them is rejected, or was applied meanwhile
            if database_away(error):
                await asyncio.sleep(backoff_seconds * 4)
                raise
            log.info(
                "batch not applied together; applying its events one by one",
                extra={"consumer": consumer.name, "error": type(error).__name__},
            )
            return False
        log.info(
            "events applied",
            extra={
                "consumer": consumer.name,
                "applied": sum(applied),
                "duplicates": len(applied) - sum(applied),
            },
        )
        return True

    def span_of(record: Any, envelope: Envelope[Payload]) -> trace.Span:
        """A span per event, continuing the trace its message carries (the request's)."""
        carrier = {key: value.decode() for key, value in record.headers or () if value}
        return _tracer.start_span(
            f"{record.topic} process",
            context=propagate.extract(carrier),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.consumer.group.name": consumer.name,
                "messaging.kafka.destination.partition": record.partition,
                "messaging.kafka.message.offset": record.offset,
                "messaging.message.id": str(envelope.event_id),
            },
        )

    async def handle(_bodies: Any) -> None:
        message: KafkaMessage = broker.context.get_local("message")
        raw = message.raw_message
        records: Sequence[Any] = raw if isinstance(raw, tuple | list) else (raw,)
        events: list[tuple[Any, Envelope[Payload]]] = []
        for record in records:
            unreadable = _unreadable(record)
            if unreadable is not None:
                await park(record, None, unreadable)
                continue
            try:
                envelope = parse_contract(record.value)
            except Exception as error:  # whatever the bytes hold, only this record leaves
                await park(record, None, f"invalid contract: {_contract_error(error)}")
                continue
            if consumer.event_types is None or envelope.event_type in consumer.event_types:
                events.append((record, envelope))
        if events:
            await apply(events)
        progress.advanced(records)

    async def apply(events: list[tuple[Any, Envelope[Payload]]]) -> None:
        spans = [span_of(record, envelope) for record, envelope in events]
        effect = consumer.effect
        try:
            if isinstance(effect, ViewEffect) and await apply_together(effect, events):
                return
            retry_until = time.monotonic() + retry_seconds
            for (record, envelope), span in zip(events, spans, strict=True):
                with trace.use_span(span, record_exception=False):
                    await apply_one(record, envelope, retry_until)
        finally:
            for span in spans:
                span.end()

    progress.subscriber = broker.subscriber(
        consumer.topic,
        group_id=consumer.name,
        auto_offset_reset=offset_reset,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=batch_size,
        batch_timeout_ms=batch_wait_ms,
        parser=_tolerant_batch_parser,
        decoder=_raw_bodies,
        title=f"{consumer.topic}:{consumer.name}",
        description=consumer.description or None,
    )
    progress.subscriber(handle)
    return progress


@dataclass(frozen=True)
class ViewEffect:
    """An effect on a tracked view's rows (see :func:`view_effect`)."""

    view: TrackedView
    apply: Callable[[Cursor[DictRow], Envelope[Payload]], None]

    def __call__(self, envelope: Envelope[Payload], tracking: Tracking) -> bool:
        return self.view.apply_once(tracking, lambda cursor: self.apply(cursor, envelope))

    def apply_batch(self, events: Sequence[tuple[Envelope[Payload], Delivery]]) -> list[bool]:
        """The events in one transaction, each recorded as processed (``False``: seen)."""
        return self.view.apply_batch(
            [(tracking, self._applying(envelope)) for envelope, tracking in events]
        )

    def _applying(self, envelope: Envelope[Payload]) -> Callable[[Cursor[DictRow]], None]:
        return lambda cursor: self.apply(cursor, envelope)


def view_effect(
    view: TrackedView, apply: Callable[[Cursor[DictRow], Envelope[Payload]], None]
) -> Effect:
    """An effect that updates a tracked view's rows and its tracking record in one transaction
    (and a batch of events, each with its tracking record, in one transaction)."""
    return ViewEffect(view, apply)
