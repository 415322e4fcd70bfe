"""Kafka plumbing: the broker every service uses, and topic administration."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from kafka.admin import ConfigResource, KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError, for_code

from shared.messaging.topics import DURABILITY, Durability, TopicSpec, declared_names, spec_for
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


class TopicAdministrationError(RuntimeError):
    """Kafka refused to create a topic or to change its configuration."""


@dataclass
class TopicsEnsured:
    """What :func:`ensure_topics` found and did."""

    created: list[str] = field(default_factory=list)
    updated: dict[str, dict[str, str]] = field(default_factory=dict)
    """Existing topics whose configuration was brought to the declaration: the new values."""
    unchanged: list[str] = field(default_factory=list)
    drift: dict[str, list[str]] = field(default_factory=dict)
    """Differences the project does not change by itself (partitions, replication factor);
    logged as warnings, see deploy/README.md ("Kafka topics")."""


def ensure_topics(settings: StackSettings, topics: Iterable[str] | None = None) -> TopicsEnsured:
    """Create the missing ``topics`` (default: every declared one) with their declared
    settings (:mod:`shared.messaging.topics`), and set the declared configuration on existing ones
    where it differs: retention, cleanup policy, ``min.insync.replicas``.

    Partition counts and replication factors of existing topics are compared and reported
    (``drift``), not changed: see :mod:`shared.messaging.topics`. ``min.insync.replicas`` is
    not raised above a topic's actual replication factor (every ``acks=all`` write would be
    refused).
    """
    durability = DURABILITY[settings.kafka_durability]
    names = list(dict.fromkeys(declared_names() if topics is None else topics))
    specs = {name: spec_for(name, settings.kafka_partitions) for name in names}
    result = TopicsEnsured()
    if not specs:
        return result
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="outreach-admin")
    try:
        existing = set(admin.list_topics())
        missing = [spec for name, spec in specs.items() if name not in existing]
        if missing:
            result.created = _create(admin, missing, durability)
        present = [spec for name, spec in specs.items() if name not in result.created]
        if present:
            _align(admin, present, durability, result)
    finally:
        admin.close()
    if result.created:
        log.info("created topics", extra={"topics": result.created})
    for topic, changes in result.updated.items():
        log.info("topic configuration set", extra={"topic": topic, "configs": changes})
    for topic, differences in result.drift.items():
        log.warning(
            "topic differs from its declaration: %s; see deploy/README.md, 'Kafka topics'",
            "; ".join(differences),
            extra={"topic": topic},
        )
    return result


def _create(admin: KafkaAdminClient, specs: list[TopicSpec], durability: Durability) -> list[str]:
    """Create ``specs``; returns the names this call created (others made them meanwhile)."""
    answer = admin.create_topics(
        [
            NewTopic(
                spec.name,
                spec.partitions,
                durability.replication_factor,
                topic_configs=spec.configs(durability),
            )
            for spec in specs
        ],
        timeout_ms=30_000,
        raise_errors=False,
    )
    created, failures = [], []
    for topic in answer["topics"]:
        code = int(topic["error_code"])
        if code == 0:
            created.append(topic["name"])
        elif code != TopicAlreadyExistsError.errno:
            message = topic.get("error_message") or for_code(code).__name__
            failures.append(f"{topic['name']}: {message}")
    if failures:
        raise TopicAdministrationError("creating topics failed: " + "; ".join(failures))
    if created:  # every partition has a leader before anyone publishes
        admin.wait_for_topics(created, timeout_ms=30_000)
    return created


def _align(
    admin: KafkaAdminClient,
    specs: list[TopicSpec],
    durability: Durability,
    result: TopicsEnsured,
) -> None:
    """Compare existing topics with their declaration; set the configuration that differs."""
    described = {t["name"]: t for t in admin.describe_topics([spec.name for spec in specs])}
    resources = [
        ConfigResource("TOPIC", spec.name, list(spec.configs(durability))) for spec in specs
    ]
    current = admin.describe_configs(resources, config_filter="all")["topic"]
    changes: list[ConfigResource] = []
    for spec in specs:
        partitions = described[spec.name]["partitions"]
        replicas = min((len(p["replica_nodes"]) for p in partitions), default=0)
        drift = []
        if len(partitions) != spec.partitions:
            drift.append(f"{len(partitions)} partitions, declared {spec.partitions}")
        if replicas != durability.replication_factor:
            drift.append(f"replication factor {replicas}, declared {durability.replication_factor}")
        wanted = spec.configs(durability)
        if int(wanted["min.insync.replicas"]) > replicas:
            del wanted["min.insync.replicas"]
        have = {key: entry["value"] for key, entry in current.get(spec.name, {}).items()}
        differing = {key: value for key, value in wanted.items() if have.get(key) != value}
        if drift:
            result.drift[spec.name] = drift
        if differing:
            result.updated[spec.name] = differing
            changes.append(ConfigResource("TOPIC", spec.name, differing))
        elif not drift:
            result.unchanged.append(spec.name)
    if changes:
        answer = admin.alter_configs(changes)["topic"]
        failures = [f"{name}: {outcome}" for name, outcome in answer.items() if outcome != "OK"]
        if failures:
            raise TopicAdministrationError(
                "setting topic configuration failed: " + "; ".join(failures)
            )


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
