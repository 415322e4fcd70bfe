"""How a consumer group takes its batches from Kafka (the pattern:
:mod:`shared.messaging.consumer`): records read tolerantly, parsed as contracts, applied
together or one by one with retries, parked when they cannot be applied, each in a span that
continues the message's trace."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from opentelemetry import propagate, trace
from pydantic import ValidationError

from shared.contracts import Envelope, Payload, UnknownEventTypeError
from shared.contracts import parse_envelope as parse_contract
from shared.errors import ApplicationError
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.failures import database_away, describe
from shared.messaging.consumer import Consumer, ConsumerProgress, DeadLetters, ViewEffect

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

SESSION_TIMEOUT_MS = 6_000
"""How long the group coordinator waits for a member's heartbeat before it gives the member's
partitions to the others (a replica killed without leaving the group): Kafka's smallest by
default (``group.min.session.timeout.ms``). A replica stopped on purpose leaves the group at
once."""
HEARTBEAT_MS = 1_000
"""How often a member tells the coordinator it lives, and learns of a rebalance: a replica
joining (or one leaving) is answered within about a second instead of three."""
ASSIGNMENT = (StickyPartitionAssignor,)
"""The partitions of a group spread over its replicas, moved as little as possible when one
joins or leaves. aiokafka knows only Kafka's eager rebalance protocol (no cooperative
incremental one): every member gives up its partitions during a rebalance and gets (mostly)
the same ones back, so a rebalance pauses the whole group for about a heartbeat."""

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
    whole batch (after that, a failing event is parked at once). A group without a committed
    offset starts at the topic's beginning (``offset_reset="latest"``: benchmark runs). The
    consumer is ``stalled`` when messages wait and none was processed for ``stall_seconds``.
    """
    progress = ConsumerProgress(consumer, stall_seconds)
    subscription = _Subscription(
        broker,
        consumer,
        dead_letters,
        progress,
        retries=retries,
        backoff_seconds=backoff_seconds,
        retry_seconds=retry_seconds,
    )
    progress.subscriber = broker.subscriber(
        consumer.topic,
        group_id=consumer.name,
        auto_offset_reset=offset_reset,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_MS,
        partition_assignment_strategy=ASSIGNMENT,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=batch_size,
        batch_timeout_ms=batch_wait_ms,
        parser=_tolerant_batch_parser,
        decoder=_raw_bodies,
        title=f"{consumer.topic}:{consumer.name}",
        description=consumer.description or None,
    )
    progress.subscriber(subscription.handle)
    return progress


class _Subscription:
    """One consumer group's handling of its batches (see the module's docstring)."""

    def __init__(
        self,
        broker: KafkaBroker,
        consumer: Consumer,
        dead_letters: DeadLetters,
        progress: ConsumerProgress,
        *,
        retries: int,
        backoff_seconds: float,
        retry_seconds: float,
    ) -> None:
        self.broker = broker
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.progress = progress
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.retry_seconds = retry_seconds

    async def park(self, record: Any, event_id: str | None, error: str) -> None:
        await self.dead_letters.park(self.consumer, record, event_id, error)
        self.progress.parked += 1

    async def apply_one(self, record: Any, envelope: Envelope[Payload], retry_until: float) -> None:
        """One event in a transaction of its own: retried, parked when it keeps failing (or
        once the batch's time for retries is up: a batch must finish well within Kafka's
        ``max_poll_interval_ms``, or the group would take it away and deliver it again)."""
        tracking = self.consumer.delivery_of(envelope, record)
        attempt = 0
        while True:
            try:
                # What the effect records, the service records because of this message.
                with acting_as(
                    CommandContext.following(envelope.event_id, envelope.correlation_id)
                ):
                    applied = await asyncio.to_thread(self.consumer.effect, envelope, tracking)
                log.info(
                    "event applied" if applied else "duplicate event skipped",
                    extra={
                        "consumer": self.consumer.name,
                        "event_id": str(envelope.event_id),
                        "event_type": envelope.event_type,
                    },
                )
                return
            except ApplicationError as error:
                await self.park(record, str(envelope.event_id), f"{error.code}: {error.detail}")
                return
            except Exception as error:
                if database_away(error):
                    await asyncio.sleep(self.backoff_seconds * 4)
                    raise  # deliver the batch again later, park nothing
                attempt += 1
                if attempt > self.retries or time.monotonic() > retry_until:
                    error_class, message = describe(error)
                    await self.park(record, str(envelope.event_id), f"{error_class}: {message}")
                    return
                self.progress.retried += 1
                await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))

    async def apply_together(
        self, effect: ViewEffect, events: list[tuple[Any, Envelope[Payload]]]
    ) -> bool:
        """The whole batch in one transaction; ``False`` if it has to go one by one."""
        try:
            applied = await asyncio.to_thread(
                effect.apply_batch, [(e, self.consumer.delivery_of(e, r)) for r, e in events]
            )
        except Exception as error:  # one of them is rejected, or was applied meanwhile
            if database_away(error):
                await asyncio.sleep(self.backoff_seconds * 4)
                raise
            log.info(
                "batch not applied together; applying its events one by one",
                extra={"consumer": self.consumer.name, "error": type(error).__name__},
            )
            return False
        log.info(
            "events applied",
            extra={
                "consumer": self.consumer.name,
                "applied": sum(applied),
                "duplicates": len(applied) - sum(applied),
            },
        )
        return True

    def span_of(self, record: Any, envelope: Envelope[Payload]) -> trace.Span:
        """A span per event, continuing the trace its message carries (the request's)."""
        carrier = {key: value.decode() for key, value in record.headers or () if value}
        return _tracer.start_span(
            f"{record.topic} process",
            context=propagate.extract(carrier),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.consumer.group.name": self.consumer.name,
                "messaging.kafka.destination.partition": record.partition,
                "messaging.kafka.message.offset": record.offset,
                "messaging.message.id": str(envelope.event_id),
            },
        )

    async def handle(self, _bodies: Any) -> None:
        message: KafkaMessage = self.broker.context.get_local("message")
        raw = message.raw_message
        records: Sequence[Any] = raw if isinstance(raw, tuple | list) else (raw,)
        events: list[tuple[Any, Envelope[Payload]]] = []
        for record in records:
            unreadable = _unreadable(record)
            if unreadable is not None:
                await self.park(record, None, unreadable)
                continue
            try:
                envelope = parse_contract(record.value)
            except Exception as error:  # whatever the bytes hold, only this record leaves
                await self.park(record, None, f"invalid contract: {_contract_error(error)}")
                continue
            wanted = self.consumer.event_types
            if wanted is None or envelope.event_type in wanted:
                events.append((record, envelope))
        if events:
            await self.apply(events)
        self.progress.advanced(records)

    async def apply(self, events: list[tuple[Any, Envelope[Payload]]]) -> None:
        spans = [self.span_of(record, envelope) for record, envelope in events]
        effect = self.consumer.effect
        try:
            if isinstance(effect, ViewEffect) and await self.apply_together(effect, events):
                return
            retry_until = time.monotonic() + self.retry_seconds
            for (record, envelope), span in zip(events, spans, strict=True):
                with trace.use_span(span, record_exception=False):
                    await self.apply_one(record, envelope, retry_until)
        finally:
            for span in spans:
                span.end()
