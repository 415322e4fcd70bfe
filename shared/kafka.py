"""Kafka plumbing: the broker every service uses, and topic administration."""

from __future__ import annotations

import contextlib
import logging

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from shared.settings import StackSettings

log = logging.getLogger(__name__)


def build_broker(settings: StackSettings, client_id: str) -> KafkaBroker:
    """A FastStream Kafka broker with safe producer defaults and trace propagation.

    The producer is idempotent with ``acks=all``; trace context travels in message headers.
    """
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        middlewares=[KafkaTelemetryMiddleware()],
        logger=logging.getLogger(f"outreach.kafka.{client_id}"),
    )


def aiokafka_producer(broker: KafkaBroker) -> AIOKafkaProducer:
    """The aiokafka producer of a started broker (its connection, ``acks=all`` and
    idempotence), for the relay: it sends a whole batch and then awaits the broker's
    acknowledgements, without FastStream's per-message publishing path."""
    wrapper = getattr(broker.config.producer, "_producer", None)
    producer = getattr(wrapper, "producer", None)
    if not isinstance(producer, AIOKafkaProducer):
        raise RuntimeError("the broker is not started (or FastStream keeps its producer elsewhere)")
    return producer


def ensure_topics(settings: StackSettings, topics: list[str]) -> None:
    """Create the topics that are missing (partitions from settings, one replica locally)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="outreach-admin")
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile elsewhere
                admin.create_topics(
                    [NewTopic(t, settings.kafka_partitions, 1) for t in missing],
                    validate_only=False,
                )
            log.info("created topics", extra={"topics": missing})
    finally:
        admin.close()


def kafka_reachable(settings: StackSettings) -> bool:
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id="outreach-readyz",
            request_timeout_ms=3000,
        )
    except Exception:
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()
