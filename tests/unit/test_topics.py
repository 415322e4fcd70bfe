"""The topic declaration: what each topic keeps, and for how long."""

from __future__ import annotations

import pytest

from shared.contracts import (
    CHAIN_ANCHOR_TOPIC,
    ERASURE_TOPIC,
    TOPICS,
    all_topics,
    dead_letter_topic,
)
from shared.messaging.topics import (
    DAY_MS,
    DECLARED,
    DURABILITY,
    FOREVER,
    declared_names,
    spec_for,
)
from shared.settings import KafkaDurability

pytestmark = pytest.mark.unit


def test_every_topic_the_services_use_is_declared() -> None:
    assert set(all_topics()) <= set(declared_names())


def test_chain_anchors_and_erasures_are_kept_forever_and_never_compacted() -> None:
    """Verification compares a chain with every anchor ever published, and a service that
    starts later must still learn every erasure: neither may age out or be compacted away."""
    for name in (CHAIN_ANCHOR_TOPIC, ERASURE_TOPIC, dead_letter_topic(ERASURE_TOPIC)):
        configs = spec_for(name, 6).configs(DURABILITY[KafkaDurability.REPLICATED])
        assert configs["retention.ms"] == str(FOREVER)
        assert configs["retention.bytes"] == "-1"
        assert configs["cleanup.policy"] == "delete"


def test_dead_letters_are_kept_long_enough_to_act_on() -> None:
    for topic in TOPICS.values():
        assert spec_for(dead_letter_topic(topic), 6).retention_ms >= 90 * DAY_MS


def test_a_write_to_a_replicated_cluster_is_acknowledged_by_two_of_three_brokers() -> None:
    replicated = DURABILITY[KafkaDurability.REPLICATED]
    assert (replicated.replication_factor, replicated.min_insync_replicas) == (3, 2)
    for spec in DECLARED:
        assert spec.configs(replicated)["min.insync.replicas"] == "2"


def test_a_subscribers_feed_and_its_dead_letters_have_their_declared_settings() -> None:
    feed = spec_for("outreach.feed.youth-office-kassel", 6)
    parked = spec_for("outreach.feed.youth-office-kassel.dlq", 6)

    assert feed.retention_ms == 14 * DAY_MS
    assert parked.retention_ms == spec_for(dead_letter_topic(TOPICS["visits"]), 6).retention_ms


def test_an_undeclared_topic_is_a_scratch_topic_kept_a_day() -> None:
    """Tests and benchmark runs make topics of their own; neither they nor their dead
    letters fill a development broker for months."""
    for name in ("test.1a2b3c", "test.1a2b3c.dlq", "bench.relay.9f"):
        spec = spec_for(name, 4)
        assert (spec.partitions, spec.retention_ms) == (4, DAY_MS)


def test_topic_names_are_declared_once() -> None:
    names = declared_names()
    assert len(names) == len(set(names))
