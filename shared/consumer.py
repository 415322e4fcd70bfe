"""The consumer pattern every service uses for integration events.

- Acknowledge only after processing (FastStream ``NACK_ON_ERROR``: success commits the
  offset, an unhandled error seeks back so the message is delivered again).
- De-duplicate by event id: the effect is stored together with a tracking record named after
  the consumer and the event id, in the same transaction (see
  :meth:`shared.eventstore.OutreachApplication.save_tracked` and :class:`TrackedView`).
- A message that cannot be processed (not a valid contract, or rejected by the domain, or
  still failing after retries) is parked in ``<topic>.dlq`` with the error and counted; the
  partition keeps flowing. While the database is unreachable nothing is parked: the message
  is retried, because nothing accepted may be lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.persistence import Tracking
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg_pool import ConnectionPool
from pydantic import ValidationError

from shared.contracts import Envelope, Payload, UnknownEventTypeError, dead_letter_topic
from shared.contracts import parse_envelope as parse_contract
from shared.errors import ApplicationError
from shared.eventstore import TrackedView

log = logging.getLogger(__name__)

Effect = Callable[[Envelope[Payload], Tracking], bool]
"""Applies one event with its tracking record in one transaction; ``False`` if seen before."""


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

    async def park(
        self, consumer: Consumer, message: KafkaMessage, event_id: str | None, error: str
    ) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple)  # one record per message (no batch subscribers)
        await self._broker.publish(
            message.body,
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


async def _raw_body(message: KafkaMessage) -> bytes:
    return message.body


def register(
    broker: KafkaBroker,
    consumer: Consumer,
    dead_letters: DeadLetters,
    *,
    retries: int = 3,
    backoff_seconds: float = 0.5,
) -> None:
    """Subscribe ``consumer`` to its topic on ``broker``."""

    async def handle(body: bytes) -> None:
        message: KafkaMessage = broker.context.get_local("message")
        try:
            envelope = parse_contract(body)
        except (ValidationError, UnknownEventTypeError, ValueError) as error:
            await dead_letters.park(consumer, message, None, f"invalid contract: {error}")
            return
        if consumer.event_types is not None and envelope.event_type not in consumer.event_types:
            return
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
                    consumer, message, str(envelope.event_id), f"{error.code}: {error.detail}"
                )
                return
            except psycopg.OperationalError:
                await asyncio.sleep(backoff_seconds * 4)
                raise  # the database is away: deliver again later, park nothing
            except Exception as error:
                attempt += 1
                if attempt > retries:
                    await dead_letters.park(
                        consumer,
                        message,
                        str(envelope.event_id),
                        f"{type(error).__name__}: {error}",
                    )
                    return
                await asyncio.sleep(backoff_seconds * 2 ** (attempt - 1))

    broker.subscriber(
        consumer.topic,
        group_id=consumer.name,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_raw_body,
        title=f"{consumer.topic}:{consumer.name}",
        description=consumer.description or None,
    )(handle)


def view_effect(
    view: TrackedView, apply: Callable[[Cursor[DictRow], Envelope[Payload]], None]
) -> Effect:
    """An effect that updates a tracked view's rows and its tracking record in one transaction."""

    def effect(envelope: Envelope[Payload], tracking: Tracking) -> bool:
        return view.apply_once(tracking, lambda cursor: apply(cursor, envelope))

    return effect
