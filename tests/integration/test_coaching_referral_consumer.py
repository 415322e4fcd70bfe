"""The coaching consumers against the real Kafka and PostgreSQL: the case directory from
the contacts events, and a coaching requested once for a consented referral after a visit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka import KafkaProducer
from psycopg_pool import ConnectionPool

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import ContactLost
from shared.contracts.visits import Need, NextStep
from shared.messaging.kafka import ensure_topics
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.coaching import (
    CoachingHarness,
    RunningConsumers,
    coaching_harness,
    contact_lost,
    visit_completed,
)
from tests.support.helpers import TEST_DATABASE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def harness(stack: ServiceSettings, cipher: PersonalDataCipher) -> Iterator[CoachingHarness]:
    with coaching_harness(stack) as running:
        yield running


@pytest.fixture(scope="module")
def pool(stack: ServiceSettings) -> Iterator[ConnectionPool]:
    with ConnectionPool(stack.database_url(TEST_DATABASE), min_size=1, max_size=2) as pool:
        yield pool


@pytest.fixture
def producer(stack: ServiceSettings) -> Iterator[Any]:
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    yield producer
    producer.close()


@pytest.fixture
def visits_topic(stack: ServiceSettings, topic: str) -> str:
    name = topic + ".visits"
    ensure_topics(stack, [name, name + ".dlq"])
    return name


def publish(producer: Any, topic: str, *envelopes: Envelope[Payload]) -> None:
    for envelope in envelopes:
        value = envelope.model_dump_json().encode()
        producer.send(topic, value=value, key=envelope.subject.bytes).get(timeout=10)


async def wait_for(probe: Callable[[], Any], what: str) -> Any:
    async with asyncio.timeout(30):
        while not (result := probe()):
            await asyncio.sleep(0.2)
    assert result, what
    return result


def coachings_of(harness: CoachingHarness, lost: Envelope[Payload]) -> list[Any]:
    return harness.records.history(lost.subject)


async def test_a_consented_referral_requests_one_coaching_even_when_delivered_twice(
    stack: ServiceSettings,
    pool: ConnectionPool,
    harness: CoachingHarness,
    cipher: PersonalDataCipher,
    producer: Any,
    topic: str,
    visits_topic: str,
    district: str,
) -> None:
    lost, who = contact_lost(cipher, district)
    referral = visit_completed(lost, needs=[Need.DEBT, Need.CHILDCARE])
    declined, _ = contact_lost(cipher, district)
    publish(producer, topic, lost, declined)
    publish(producer, visits_topic, referral, referral)  # the relay published it again
    publish(producer, visits_topic, visit_completed(declined, consent=False))
    publish(producer, visits_topic, visit_completed(declined, next_step=NextStep.REVISIT))

    async with RunningConsumers(
        stack, pool, harness, contacts_topic=topic, visits_topic=visits_topic
    ) as running:
        (row,) = await wait_for(lambda: coachings_of(harness, lost), "the requested coaching")
        marker, _ = contact_lost(cipher, district)
        publish(producer, visits_topic, visit_completed(marker))
        publish(producer, topic, marker)
        await wait_for(lambda: coachings_of(harness, marker), "the marker's coaching")
        marker_case = marker.payload
        assert isinstance(marker_case, ContactLost)
        await wait_for(lambda: harness.directory.case(marker_case.case_id), "directory")
        dead_letters = running.dead_letters.counts()

    assert coachings_of(harness, lost) == [row]
    assert coachings_of(harness, declined) == []
    assert (row["source"], row["status"], row["district"]) == (
        "visit_referral",
        "requested",
        district,
    )
    assert row["needs"] == ["childcare", "debt"]
    assert row["requested_by"] == "ow-test"
    assert not any(name.startswith(running.prefix) for name in dead_letters)
    payload = lost.payload
    assert isinstance(payload, ContactLost)
    entry = harness.directory.case(payload.case_id)
    assert entry is not None
    assert cipher.open(entry["name_token"]) == who["name"]
    assert cipher.open(entry["phone_token"]) == who["phone"]
