"""Tamper evidence: every service's stored events are hash-chained.

Each stored event (its notification id, originator id and version, topic and the stored
state bytes — sealed personal fields included, as stored) is linked to the previous one:
``digest_n = SHA-256(digest_{n-1} || record_n)``. Because the chain covers the stored bytes,
it still verifies after a person's key was destroyed. The chain lives in ``<app>_chain`` in
the service's database and is extended by a keeper that follows the event log; its head is
published periodically to the ``outreach.chain-anchors`` topic, so a rewrite of the whole
chain inside the database is caught against the anchors outside it.

    python -m shared.chain verify contacts     # exit 1 and the first problem found
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import struct
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from shared.contracts import CHAIN_ANCHOR_TOPIC
from shared.metrics.counters import CHAIN_ANCHORS
from shared.runtime.background import every

log = logging.getLogger(__name__)

GENESIS = bytes(32)
ANCHOR_TOPIC = CHAIN_ANCHOR_TOPIC

Problem = Literal["modified", "deleted", "inserted", "anchor_mismatch"]


@dataclass(frozen=True)
class StoredRecord:
    notification_id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


def link(previous: bytes, record: StoredRecord) -> bytes:
    """The digest of ``record`` chained to the digest before it."""
    topic = record.topic.encode()
    digest = hashlib.sha256(previous)
    digest.update(struct.pack(">qq", record.notification_id, record.originator_version))
    digest.update(record.originator_id.bytes)
    digest.update(struct.pack(">I", len(topic)) + topic)
    digest.update(struct.pack(">Q", len(record.state)) + record.state)
    return digest.digest()


@dataclass(frozen=True)
class ChainLink:
    notification_id: int
    previous_id: int
    digest: bytes


@dataclass(frozen=True)
class Verification:
    service: str
    verified: int
    head: int | None
    problem: Problem | None = None
    notification_id: int | None = None
    detail: str = ""

    @property
    def intact(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Anchor:
    service: str
    notification_id: int
    digest: str
    anchored_at: str


class EventChain:
    """The hash chain over one service's event table."""

    def __init__(self, pool: ConnectionPool, app_name: str, deployment: str | None = None) -> None:
        self._pool = pool
        table = app_name.lower()
        self.service = deployment or table
        """Names the chain in its anchors: the deployment (database) of the service."""
        self._events = sql.Identifier(f"{table}_events")
        self._chain = sql.Identifier(f"{table}_chain")

    def create_schema(self) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    "notification_id bigint PRIMARY KEY, previous_id bigint NOT NULL, "
                    "digest bytea NOT NULL)"
                ).format(self._chain)
            )

    def head(self) -> tuple[int, bytes] | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT notification_id, digest FROM {} ORDER BY notification_id DESC LIMIT 1"
                ).format(self._chain)
            ).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def extend(self, limit: int = 1000) -> int:
        """Chain the stored events after the head; returns how many were linked."""
        with self._pool.connection() as conn, conn.transaction():
            head = conn.execute(
                sql.SQL(
                    "SELECT notification_id, digest FROM {} ORDER BY notification_id DESC LIMIT 1"
                ).format(self._chain)
            ).fetchone()
            after, previous = (int(head[0]), bytes(head[1])) if head else (0, GENESIS)
            rows = conn.execute(
                sql.SQL(
                    "SELECT notification_id, originator_id, originator_version, topic, state "
                    "FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
                ).format(self._events),
                (after, limit),
            ).fetchall()
            links = []
            for row in rows:
                previous = link(previous, _record(row))
                links.append((row[0], after, previous))
                after = row[0]
            if links:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        sql.SQL(
                            "INSERT INTO {} (notification_id, previous_id, digest) "
                            "VALUES (%s, %s, %s)"
                        ).format(self._chain),
                        links,
                    )
        return len(links)

    def verify(self, anchors: Sequence[Anchor] = ()) -> Verification:
        """Recompute the chain; report the first modified, deleted or inserted record."""
        previous = GENESIS
        verified = 0
        head: int | None = None
        chained: dict[int, bytes] = {}
        current = self.head()
        last_chained = current[0] if current else 0
        for record, chain_link in self._walk():
            if chain_link is None:
                assert record is not None
                if record.notification_id < last_chained:
                    return self._problem(verified, head, "inserted", record.notification_id)
                break  # the tail is not chained yet
            if chain_link.previous_id != (head or 0):
                return self._problem(verified, head, "deleted", chain_link.previous_id)
            if record is None:
                return self._problem(verified, head, "deleted", chain_link.notification_id)
            if link(previous, record) != chain_link.digest:
                return self._problem(verified, head, "modified", record.notification_id)
            previous = chain_link.digest
            head = record.notification_id
            chained[head] = previous
            verified += 1
        for anchor in anchors:
            digest_at = chained.get(anchor.notification_id)
            if digest_at is not None and digest_at.hex() != anchor.digest:
                return self._problem(
                    verified,
                    head,
                    "anchor_mismatch",
                    anchor.notification_id,
                    "the chain differs from the digest anchored outside the database",
                )
        return Verification(self.service, verified, head)

    def _problem(
        self, verified: int, head: int | None, problem: Problem, at: int, detail: str = ""
    ) -> Verification:
        return Verification(self.service, verified, head, problem, at, detail)

    def _walk(
        self,
    ) -> Iterator[tuple[StoredRecord | None, ChainLink | None]]:
        """Stored events and chain links side by side, in notification order."""
        query = sql.SQL(
            "SELECT coalesce(e.notification_id, c.notification_id) AS id, e.originator_id, "
            "e.originator_version, e.topic, e.state, c.notification_id, c.previous_id, c.digest "
            "FROM {} e FULL OUTER JOIN {} c ON c.notification_id = e.notification_id "
            "ORDER BY id"
        ).format(self._events, self._chain)
        with self._pool.connection() as conn, conn.cursor(name="chain_walk") as cursor:
            cursor.execute(query)
            for row in cursor:
                record = (
                    _record((row[0], row[1], row[2], row[3], row[4]))
                    if row[1] is not None
                    else None
                )
                chain_link = (
                    ChainLink(int(row[5]), int(row[6]), bytes(row[7]))
                    if row[5] is not None
                    else None
                )
                yield record, chain_link

    def anchor(self) -> Anchor | None:
        current = self.head()
        if current is None:
            return None
        return Anchor(
            service=self.service,
            notification_id=current[0],
            digest=current[1].hex(),
            anchored_at=datetime.now(UTC).isoformat(),
        )


def _record(row: Sequence[Any]) -> StoredRecord:
    return StoredRecord(
        notification_id=int(row[0]),
        originator_id=UUID(str(row[1])),
        originator_version=int(row[2]),
        topic=str(row[3]),
        state=bytes(row[4]),
    )


class ChainKeeper:
    """Extends the chain as events are stored, and anchors its head on Kafka now and then."""

    def __init__(
        self, chain: EventChain, broker: Any, interval: float = 1.0, anchor_every: float = 60.0
    ) -> None:
        self._chain = chain
        self._broker = broker
        self._interval = interval
        self._anchor_every = anchor_every
        self.last_anchor: Anchor | None = None
        self._next_anchor = 0.0

    async def run(self, stopping: asyncio.Event) -> None:
        self._next_anchor = asyncio.get_running_loop().time() + self._anchor_every
        await every(self._interval, self.keep, name="chain keeper")(stopping)

    async def keep(self) -> None:
        """One round: chain what was stored meanwhile; anchor the head when it is time."""
        loop = asyncio.get_running_loop()
        try:
            while await asyncio.to_thread(self._chain.extend) > 0:
                pass
            if loop.time() >= self._next_anchor:
                await self.publish_anchor()
                self._next_anchor = loop.time() + self._anchor_every
        except psycopg.errors.UniqueViolation:
            pass  # another replica chained the same events meanwhile

    async def publish_anchor(self) -> Anchor | None:
        anchor = await asyncio.to_thread(self._chain.anchor)
        if anchor is not None and anchor != self.last_anchor:
            await self._broker.publish(
                asdict(anchor), topic=ANCHOR_TOPIC, key=anchor.service.encode()
            )
            self.last_anchor = anchor
            CHAIN_ANCHORS.inc()
        return anchor


def read_anchors(bootstrap: str, service: str) -> list[Anchor]:
    """Every anchor of ``service`` published up to now (the topic's current end)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000
    )
    try:
        partitions = [
            TopicPartition(ANCHOR_TOPIC, p)
            for p in consumer.partitions_for_topic(ANCHOR_TOPIC) or ()
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        remaining = {tp: end for tp, end in consumer.end_offsets(partitions).items() if end > 0}
        anchors = []
        for record in consumer:
            tp = TopicPartition(record.topic, record.partition)
            with contextlib.suppress(ValueError, TypeError, KeyError):
                anchor = Anchor(**json.loads(record.value))
                if anchor.service == service:
                    anchors.append(anchor)
            if record.offset + 1 >= remaining.get(tp, 0):
                remaining.pop(tp, None)
            if not remaining:
                break
        return anchors
    finally:
        consumer.close()


def main(argv: list[str] | None = None) -> int:
    from shared.settings import StackSettings

    parser = argparse.ArgumentParser(prog="python -m shared.chain", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="verify a service's chain (exit 1 when tampered)")
    verify.add_argument("service", help="the service (its database and event table)")
    verify.add_argument("--database", help="database name, if not the service's name")
    verify.add_argument("--no-anchors", action="store_true", help="skip the Kafka anchors")
    args = parser.parse_args(argv)
    settings = StackSettings()
    with ConnectionPool(settings.database_url(args.database or args.service), min_size=1) as pool:
        chain = EventChain(pool, args.service, deployment=args.database or args.service)
        chain.create_schema()
        anchors = [] if args.no_anchors else read_anchors(settings.kafka_bootstrap, chain.service)
        result = chain.verify(anchors)
    sys.stdout.write(json.dumps({**asdict(result), "intact": result.intact}) + "\n")
    return 0 if result.intact else 1


if __name__ == "__main__":
    raise SystemExit(main())
