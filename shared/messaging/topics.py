"""The one declaration of Outreach's Kafka topics: partitions, replication, retention.

Every place that makes a topic takes it from here:

- :func:`shared.messaging.kafka.ensure_topics` (each service's worker at start, the contacts feed
  publisher, the local launcher's ``stack.py create-topics``, the tests) creates a missing
  topic with these settings and brings the configuration of an existing one to them;
- ``deploy/k8s/generate.py`` renders the same topics as Strimzi ``KafkaTopic`` resources
  (``deploy/k8s/base/kafka/topics.yaml``; a test fails when the two differ).

Replication depends on the cluster, not on the topic: a development broker is one node
(:attr:`KafkaDurability.SINGLE`), a production cluster has three brokers
(:attr:`KafkaDurability.REPLICATED`): every partition on three of them, and a write is
acknowledged (``acks=all``) only once two hold it, so losing one broker loses nothing and
stops nothing.

Partition counts are never changed on an existing topic by the project: a person's events
are keyed by their pseudonym, and more partitions would send the person's next events to
another partition than the earlier ones, so a consumer could see them out of order. Raising
a count is a deliberate operation (deploy/README.md, "Kafka topics").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from shared.contracts import (
    CHAIN_ANCHOR_TOPIC,
    DLQ_SUFFIX,
    ERASURE_TOPIC,
    FEED_TOPIC_PREFIX,
    TOPICS,
    dead_letter_topic,
)
from shared.settings import KafkaDurability

DAY_MS: Final = 24 * 60 * 60 * 1000
FOREVER: Final = -1
"""``retention.ms`` of a topic whose records are never deleted."""


@dataclass(frozen=True)
class Durability:
    """How many brokers hold each partition, and how many must have a write before it is
    acknowledged to an ``acks=all`` producer."""

    replication_factor: int
    min_insync_replicas: int


DURABILITY: Final[Mapping[KafkaDurability, Durability]] = {
    KafkaDurability.SINGLE: Durability(replication_factor=1, min_insync_replicas=1),
    KafkaDurability.REPLICATED: Durability(replication_factor=3, min_insync_replicas=2),
}


@dataclass(frozen=True)
class TopicSpec:
    """The declared settings of one topic (or of a family of topics, see :func:`spec_for`)."""

    name: str
    partitions: int
    retention_ms: int
    purpose: str
    cleanup_policy: Literal["delete", "compact"] = "delete"

    def configs(self, durability: Durability) -> dict[str, str]:
        """The topic configuration Kafka is given (and that is brought back when changed)."""
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            # Retention is by time only: a size limit would drop records of a busy day early.
            "retention.bytes": "-1",
            "min.insync.replicas": str(durability.min_insync_replicas),
        }


EVENT_PARTITIONS: Final = 12
"""Partitions of a product topic: the most replicas one consumer group can spread over.
Twelve leave room for three times the workers the large network runs (deploy/README.md)."""

EVENT_RETENTION_MS: Final = 30 * DAY_MS
"""A product topic carries integration events between services; the system of record is
each service's event store. Thirty days let a consumer that was down over a long holiday
catch up without a replay, and let a new consumer group read a month back."""

DEAD_LETTER_PARTITIONS: Final = 3
DEAD_LETTER_RETENTION_MS: Final = 90 * DAY_MS
"""A parked message waits for a person to look at it (``/ops/dead-letters``), fix the
cause and replay it: a quarter of a year, so holidays and a release cycle fit in."""

FEED_PARTITIONS: Final = 3
FEED_RETENTION_MS: Final = 14 * DAY_MS
"""Feeds go to other departments; they are pseudonymised and allow-listed, and the less of
them is kept the better: two weeks for a subscriber to read them."""

SCRATCH_RETENTION_MS: Final = 1 * DAY_MS


def _declared() -> tuple[TopicSpec, ...]:
    specs: list[TopicSpec] = []
    for producer, topic in TOPICS.items():
        specs.append(
            TopicSpec(
                topic,
                EVENT_PARTITIONS,
                EVENT_RETENTION_MS,
                f"integration events published by {producer}",
            )
        )
        specs.append(_dead_letters(topic))
    specs.append(
        TopicSpec(
            ERASURE_TOPIC,
            EVENT_PARTITIONS,
            FOREVER,
            "SubjectErased tombstones and every service's SubjectErasureConfirmed. Kept "
            "forever: a service (or a restored database) that starts later must still learn "
            "every erasure. Not compacted: a person's tombstone and the confirmations share "
            "the person's key, so compaction would keep only the last confirmation.",
        )
    )
    specs.append(
        TopicSpec(
            dead_letter_topic(ERASURE_TOPIC),
            DEAD_LETTER_PARTITIONS,
            FOREVER,
            "erasure messages a service could not apply: a person that service has not "
            "forgotten. Kept until someone acted, never dropped by age.",
        )
    )
    specs.append(
        TopicSpec(
            CHAIN_ANCHOR_TOPIC,
            1,
            FOREVER,
            "the heads of every service's event hash chain (shared.chain). Kept forever: "
            "verification compares the chain with every anchor ever published. Not "
            "compacted: compaction by service would keep only the latest anchor. One "
            "partition: a few records a minute, read in order.",
        )
    )
    return tuple(specs)


def _dead_letters(topic: str) -> TopicSpec:
    return TopicSpec(
        dead_letter_topic(topic),
        DEAD_LETTER_PARTITIONS,
        DEAD_LETTER_RETENTION_MS,
        f"messages of {topic} a consumer parked",
    )


DECLARED: Final[tuple[TopicSpec, ...]] = _declared()
"""Every topic with a fixed name: created by each service's worker at start and rendered as
a ``KafkaTopic`` resource."""

_BY_NAME: Final[Mapping[str, TopicSpec]] = {spec.name: spec for spec in DECLARED}


def declared_names() -> list[str]:
    return [spec.name for spec in DECLARED]


def spec_for(name: str, scratch_partitions: int) -> TopicSpec:
    """The declared settings of the topic ``name``.

    Besides the :data:`DECLARED` topics: ``outreach.feed.<subscriber>`` (made by the contacts
    service when a subscriber registers) and its dead-letter topic. Any other name is a
    scratch topic of a test or a benchmark run (and so is its dead-letter topic):
    ``scratch_partitions`` partitions (``OUTREACH_KAFKA_PARTITIONS``), kept a day.
    """
    declared = _BY_NAME.get(name)
    if declared is not None:
        return declared
    origin = name.removesuffix(DLQ_SUFFIX)
    if origin != name and (origin in _BY_NAME or origin.startswith(FEED_TOPIC_PREFIX)):
        return _dead_letters(origin)
    if name.startswith(FEED_TOPIC_PREFIX):
        return TopicSpec(
            name,
            FEED_PARTITIONS,
            FEED_RETENTION_MS,
            "the pseudonymised feed of one subscriber",
        )
    return TopicSpec(name, scratch_partitions, SCRATCH_RETENTION_MS, "a scratch topic")
