"""``ensure_topics`` on the real broker: topics are made as declared, and a changed
configuration is brought back to the declaration."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kafka.admin import ConfigResource, KafkaAdminClient, NewPartitions

from shared.messaging.kafka import ensure_topics
from shared.messaging.topics import DAY_MS, spec_for
from shared.settings import KafkaDurability, ServiceSettings
from tests.support.helpers import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def admin(stack: ServiceSettings) -> Iterator[Any]:
    client = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap, client_id="test-topics")
    yield client
    client.close()


@pytest.fixture
def feed_topic(admin: Any) -> Iterator[str]:
    """A subscriber's feed topic of this test alone (a declared family of topics)."""
    name = f"outreach.feed.test-{uuid.uuid4().hex[:10]}"
    yield name
    admin.delete_topics([name])


def configs(admin: Any, topic: str) -> dict[str, str]:
    described = admin.describe_configs([ConfigResource("TOPIC", topic)], config_filter="all")
    return {key: entry["value"] for key, entry in described["topic"][topic].items()}


def partitions(admin: Any, topic: str) -> int:
    return len(admin.describe_topics([topic])[0]["partitions"])


def test_a_missing_topic_is_created_with_its_declared_partitions_and_retention(
    stack: ServiceSettings, admin: Any, feed_topic: str
) -> None:
    outcome = ensure_topics(stack, [feed_topic])

    declared = spec_for(feed_topic, stack.kafka_partitions)
    assert outcome.created == [feed_topic]
    assert partitions(admin, feed_topic) == declared.partitions
    held = configs(admin, feed_topic)
    assert held["retention.ms"] == str(14 * DAY_MS)
    assert held["cleanup.policy"] == "delete"
    assert held["min.insync.replicas"] == "1"


def test_a_changed_retention_is_set_back_to_the_declared_one(
    stack: ServiceSettings, admin: Any, feed_topic: str
) -> None:
    ensure_topics(stack, [feed_topic])
    admin.alter_configs([ConfigResource("TOPIC", feed_topic, {"retention.ms": "60000"})])

    outcome = ensure_topics(stack, [feed_topic])

    assert outcome.updated == {feed_topic: {"retention.ms": str(14 * DAY_MS)}}
    # The broker applies a configuration change through its metadata log: a describe right
    # after the change may still answer the old value.
    eventually(
        lambda: configs(admin, feed_topic)["retention.ms"] == str(14 * DAY_MS),
        what="the declared retention back on the topic",
    )
    assert ensure_topics(stack, [feed_topic]).unchanged == [feed_topic]


def test_partitions_added_by_hand_are_reported_and_left_alone(
    stack: ServiceSettings, admin: Any, feed_topic: str
) -> None:
    """More partitions would move a person's next events away from the earlier ones: the
    project never changes a count by itself, it says so."""
    ensure_topics(stack, [feed_topic])
    declared = spec_for(feed_topic, stack.kafka_partitions).partitions
    admin.create_partitions({feed_topic: NewPartitions(declared + 1)})

    outcome = ensure_topics(stack, [feed_topic])

    assert outcome.drift == {feed_topic: [f"{declared + 1} partitions, declared {declared}"]}
    assert partitions(admin, feed_topic) == declared + 1


def test_a_replicated_declaration_on_a_single_broker_does_not_refuse_every_write(
    stack: ServiceSettings, admin: Any, feed_topic: str
) -> None:
    """``min.insync.replicas=2`` on a topic with one replica would refuse every ``acks=all``
    write: the replication factor is reported instead, and the minimum left as it is."""
    ensure_topics(stack, [feed_topic])
    replicated = stack.model_copy(update={"kafka_durability": KafkaDurability.REPLICATED})

    outcome = ensure_topics(replicated, [feed_topic])

    assert outcome.drift == {feed_topic: ["replication factor 1, declared 3"]}
    assert feed_topic not in outcome.updated
    assert configs(admin, feed_topic)["min.insync.replicas"] == "1"
