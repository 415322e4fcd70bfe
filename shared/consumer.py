"""The consumer pattern every service uses for integration events.

- Messages come in batches (FastStream's batch subscriber: what the partitions hold, up to
  ``batch_size``). A batch is acknowledged only after every message in it was processed
  (FastStream ``NACK_ON_ERROR``: success commits the offsets, an unhandled error seeks every
  partition back to the batch's first message so the batch is delivered again).
- De-duplicate by event id: the effect is stored together with a tracking record named after
  the consumer and the event id, in the same transaction (see
  :meth:`shared.eventstore.OutreachApplication.save_tracked` and :class:`TrackedView`).
- The effects on a view's rows (:func:`view_effect`) of a whole batch are applied in one
  transaction, each event with its own tracking record in it
  (:meth:`TrackedView.apply_batch`). Other effects (those saving event-sourced aggregates)
  are applied one event after the other, each in a transaction of its own.
- A message that cannot be processed (not a valid contract, or rejected by the domain, or
  still failing after retries) is parked in ``<topic>.dlq`` with the error and counted; the
  partition keeps flowing. When one event of a batch fails, the batch's transaction is
  rolled back and its events are applied one by one, so only that one is parked. While the
  database is unreachable nothing is parked: the batch is delivered again, because nothing
  accepted may be lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from eventsourcing import persistence
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
from shared.eventstore import TrackedView

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

Effect = Callable[[Envelope[Payload], Tracking], bool]
"""Applies one event with its tracking record in one transaction; ``False`` if seen before."""

DATABASE_AWAY = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    persistence.OperationalError,  # what the library raises for psycopg's
    persistence.InterfaceError,
)
"""The database is unreachable: deliver again later, park nothing."""


@dataclass(frozen=True)
class Consumer:
    name: str
    """Consumer group, and the prefix of its tracking records."""
    topic: str
    effect: Effect
    event_types: frozenset[str] | None = None
    """Event types this consumer applies; other types are acknowledged and skipped."""
    description: str = ""

    def tracking_for(self, envelope: Envelope[Payload]) -> Tracking:
        return Tracking(application_name=f"{self.name}/{envelope.event_id}", notification_id=1)


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
) -> None:
    """Subscribe ``consumer`` to its topic on ``broker``.

    Up to ``batch_size`` messages are taken at a time; with none there, the subscriber looks
    again after ``batch_wait_ms`` (the most an idle consumer adds to an event's latency). A
    failing event is retried ``retries`` times with backoff, within ``retry_seconds`` for the
    whole batch (after that, a failing event is parked at once). A consumer group without a
    committed offset starts at the beginning of the topic (``offset_reset="latest"`` only
    for benchmark runs that must not replay the topic).
    """

    async def apply_one(record: Any, envelope: Envelope[Payload], retry_until: float) -> None:
        """One event in a transaction of its own: retried, parked when it keeps failing (or
        once the batch's time for retries is up: a batch must finish well within Kafka's
        ``max_poll_interval_ms``, or the group would take it away and deliver it again)."""
        tracking = consumer.tracking_for(envelope)
        attempt = 0
        while True:
            try:
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
                await dead_letters.park(
                    consumer, record, str(envelope.event_id), f"{error.code}: {error.detail}"
                )
                return
            except DATABASE_AWAY:
                await asyncio.sleep(backoff_seconds * 4)
                raise  # the database is away: deliver the batch again later, park nothing
            except Exception as error:
                attempt += 1
                if attempt > retries or time.monotonic() > retry_until:
                    await dead_letters.park(
                        consumer, record, str(envelope.event_id), f"{type(error).__name__}: {error}"
                    )
                    return
                await asyncio.sleep(backoff_seconds * 2 ** (attempt - 1))

    async def apply_together(effect: ViewEffect, events: list[Envelope[Payload]]) -> bool:
        """The whole batch in one transaction; ``False`` if it has to go one by one."""
        try:
            applied = await asyncio.to_thread(
                effect.apply_batch, [(e, consumer.tracking_for(e)) for e in events]
            )
        except DATABASE_AWAY:
            await asyncio.sleep(backoff_seconds * 4)
            raise
        except Exception as error:  # one of them is rejected, or was applied meanwhile
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
        records: Sequence[Any] = raw if isinstance(raw, tuple) else (raw,)
        events: list[tuple[Any, Envelope[Payload]]] = []
        for record in records:
            try:
                envelope = parse_contract(record.value or b"")
            except (ValidationError, UnknownEventTypeError, ValueError) as error:
                await dead_letters.park(consumer, record, None, f"invalid contract: {error}")
                continue
            if consumer.event_types is None or envelope.event_type in consumer.event_types:
                events.append((record, envelope))
        if not events:
            return
        spans = [span_of(record, envelope) for record, envelope in events]
        effect = consumer.effect
        try:
            if isinstance(effect, ViewEffect) and await apply_together(
                effect, [envelope for _, envelope in events]
            ):
                return
            retry_until = time.monotonic() + retry_seconds
            for (record, envelope), span in zip(events, spans, strict=True):
                with trace.use_span(span, record_exception=False):
                    await apply_one(record, envelope, retry_until)
        finally:
            for span in spans:
                span.end()

    broker.subscriber(
        consumer.topic,
        group_id=consumer.name,
        auto_offset_reset=offset_reset,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=batch_size,
        batch_timeout_ms=batch_wait_ms,
        decoder=_raw_bodies,
        title=f"{consumer.topic}:{consumer.name}",
        description=consumer.description or None,
    )(handle)


@dataclass(frozen=True)
class ViewEffect:
    """An effect on a tracked view's rows (see :func:`view_effect`)."""

    view: TrackedView
    apply: Callable[[Cursor[DictRow], Envelope[Payload]], None]

    def __call__(self, envelope: Envelope[Payload], tracking: Tracking) -> bool:
        return self.view.apply_once(tracking, lambda cursor: self.apply(cursor, envelope))

    def apply_batch(self, events: Sequence[tuple[Envelope[Payload], Tracking]]) -> list[bool]:
        """The events in one transaction, each with its tracking record (``False``: seen)."""
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
