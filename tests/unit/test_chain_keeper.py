"""The chain keeper goes on anchoring the chain's head after Kafka or the database was away."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from aiokafka.errors import KafkaConnectionError

from shared.chain import Anchor, ChainKeeper

pytestmark = pytest.mark.unit


class Chain:
    """A chain whose head moves on with every anchor; ``extend`` fails while ``away``."""

    def __init__(self) -> None:
        self.away = 0
        self.head = 0

    def extend(self) -> int:
        if self.away:
            self.away -= 1
            raise psycopg.OperationalError("connection refused")
        return 0

    def anchor(self) -> Anchor:
        self.head += 1
        return Anchor(service="contacts", notification_id=self.head, digest="d", anchored_at="t")


class Broker:
    """A broker that refuses the first ``refusals`` messages as a stopped Kafka does."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.published: list[dict[str, Any]] = []

    async def publish(self, message: dict[str, Any], **_: Any) -> None:
        if self.refusals:
            self.refusals -= 1
            raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 29092)]")
        self.published.append(message)


async def keep_until_anchored(chain: Chain, broker: Broker, anchors: int) -> None:
    keeper = ChainKeeper(chain, broker, interval=0.01, anchor_every=0.01)
    stopping = asyncio.Event()
    running = asyncio.create_task(keeper.run(stopping))
    try:
        async with asyncio.timeout(10):
            while len(broker.published) < anchors and not running.done():
                await asyncio.sleep(0.01)
    finally:
        stopping.set()
    await running  # raises what stopped it early


async def test_anchoring_goes_on_after_kafka_was_away() -> None:
    broker = Broker(refusals=3)

    await keep_until_anchored(Chain(), broker, anchors=2)

    assert len(broker.published) >= 2


async def test_chaining_goes_on_after_the_database_was_away() -> None:
    chain, broker = Chain(), Broker(refusals=0)
    chain.away = 3

    await keep_until_anchored(chain, broker, anchors=1)

    assert chain.away == 0
    assert broker.published
