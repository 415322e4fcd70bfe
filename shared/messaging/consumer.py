"""The consumer pattern every service uses for integration events (its subscription to
Kafka, batch by batch: :mod:`shared.messaging.subscription`).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError
from eventsourcing.persistence import Tracking
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg_pool import ConnectionPool

from shared.contracts import Envelope, Payload, dead_letter_topic
from shared.eventsourcing.views import TrackedView
from shared.messaging.processed import Delivery, delivery

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

LAG_QUERY_SECONDS = 1.0
"""How long a lag reading (a scrape, ``/readyz``, ``/ops/consumers``) waits for the broker."""

Effect = Callable[[Envelope[Payload], Tracking], bool]
"""Applies one event with its tracking record in one transaction; ``False`` if seen before."""


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
        self._waiting: dict[int, int] = {}

    def advanced(self, records: Sequence[Any]) -> None:
        for record in records:
            self._next[record.partition] = max(
                self._next.get(record.partition, 0), record.offset + 1
            )
        self.processed += len(records)
        self.last_progress = time.time()

    async def lag(self) -> dict[int, int]:
        """Messages waiting per assigned partition: the partition's end on the broker behind
        what this group acknowledged (its committed offset) or processed, whichever is
        further. Both are asked of the broker, so a consumer stuck in its handler shows its
        lag growing as messages arrive (its own fetcher stops learning the partition's end
        while its buffer is full). When the broker does not answer within
        :data:`LAG_QUERY_SECONDS`, the lag last measured."""
        consumer = getattr(self.subscriber, "consumer", None)
        if consumer is None:
            return {}
        assigned = list(consumer.assignment())
        try:
            ends, committed = await asyncio.wait_for(
                asyncio.gather(
                    consumer.end_offsets(assigned),
                    asyncio.gather(*(consumer.committed(tp) for tp in assigned)),
                ),
                LAG_QUERY_SECONDS,
            )
        except (TimeoutError, KafkaError):
            return dict(self._waiting)
        done = dict(zip(assigned, committed, strict=True))
        # A group that never committed a partition starts it at its beginning ("earliest").
        unknown = [tp for tp in assigned if done[tp] is None and tp.partition not in self._next]
        if unknown:
            with contextlib.suppress(TimeoutError, KafkaError):
                starts = await asyncio.wait_for(
                    consumer.beginning_offsets(unknown), LAG_QUERY_SECONDS
                )
                done.update({tp: int(starts[tp]) for tp in unknown})
        self._waiting = {
            tp.partition: max(
                0, int(ends[tp]) - max(done[tp] or 0, self._next.get(tp.partition, 0))
            )
            for tp in assigned
        }
        return dict(self._waiting)

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
