"""4. The relay (``shared/relay.py``) publishing a backlog of stored events to Kafka.

Baseline: ``AIOKafkaProducer(acks="all", enable_idempotence=True)`` sending the same
payloads, 500 in flight. Both publish to topics of the run (``bench.relay.<run id>``,
``bench.raw.<run id>``).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from contacts.application import Contacts
from contacts.integration import to_integration_event

from bench.harness import Bench, every, say
from bench.scales import TARGET_RATIOS, TARGETS
from bench.seed import import_app
from shared.contracts import contacts as contacts_contracts
from shared.kafka import aiokafka_producer, build_broker, ensure_topics
from shared.rebuild import notification_batches
from shared.relay import Relay

Payload = tuple[bytes, bytes]
"""A message's value and key."""


def _payloads(app: Contacts, target: int) -> list[Payload]:
    """What the relay publishes of the first ``target`` stored events, for the baseline."""
    payloads = []
    for batch in notification_batches(app.recorder):
        for n in batch:
            if n.id > target:
                break
            outgoing = to_integration_event(app.mapper.to_domain_event(n))
            if outgoing is not None:
                e = outgoing.envelope
                value = json.dumps(e.model_dump(mode="json", serialize_as_any=True)).encode()
                payloads.append((value, e.subject.bytes))
        if batch[-1].id >= target:
            break
    return payloads


async def _relayed(
    bench: Bench, app: Contacts, topic: str, target: int
) -> tuple[int, float, float]:
    """The relay run until it recorded ``target`` events; published, wall-clock and CPU s."""
    broker = build_broker(bench.settings, "bench-relay")
    relay = Relay(
        app=app,
        broker=broker,
        topic=topic,
        mapper=to_integration_event,
        contracts=contacts_contracts.EVENTS,
        lock_dsn=bench.url("import"),
    )
    await broker.start()
    # Both producers learn their new topic's partitions (and leaders) before the clock
    # starts, so neither measurement includes the topic's creation.
    await aiokafka_producer(broker).partitions_for(topic)
    stopping, progress = asyncio.Event(), every(max(1000, target // 10), "relayed", target)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        task = asyncio.create_task(relay.run(stopping))
        while relay.recorded < target:  # in memory: no query on the relay's event loop
            await asyncio.sleep(0.05)
            progress(relay.recorded)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        published = relay.published
        stopping.set()
        await task
    finally:
        await broker.stop()
    return published, elapsed, cpu


async def _raw_aiokafka(bench: Bench, topic: str, payloads: list[Payload]) -> tuple[float, float]:
    """The payloads sent 500 at a time; wall-clock and CPU seconds."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bench.settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
    )
    await producer.start()
    try:
        await producer.partitions_for(topic)
        started, cpu = time.perf_counter(), time.process_time()
        for first in range(0, len(payloads), 500):
            futures = [
                await producer.send(topic, value=v, key=k) for v, k in payloads[first : first + 500]
            ]
            await asyncio.gather(*futures)
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        await producer.stop()


async def _relay(bench: Bench, backlog: int) -> dict[str, Any]:
    app = import_app(bench)
    topic, raw_topic = f"bench.relay.{bench.run_id}", f"bench.raw.{bench.run_id}"
    ensure_topics(bench.settings, [topic, raw_topic])
    try:
        target = min(backlog, app.recorder.max_notification_id() or 0)
        payloads = _payloads(app, target)
        published, elapsed, cpu = await _relayed(bench, app, topic, target)
    finally:
        app.close()
    raw_elapsed, raw_cpu = await _raw_aiokafka(bench, raw_topic, payloads)
    return {
        "stored_events": target,
        "published": published,
        "messages_per_s": published / elapsed,
        "stored_events_per_s": target / elapsed,
        "baseline_per_s": len(payloads) / raw_elapsed,
        "ratio": (published / elapsed) / (len(payloads) / raw_elapsed),
        # CPU of this process (all threads) per message: depends less on the machine's load
        "cpu_us_per_message": cpu / max(published, 1) * 1e6,
        "baseline_cpu_us_per_message": raw_cpu / max(len(payloads), 1) * 1e6,
    }


def measure_relay(bench: Bench) -> dict[str, Any]:
    backlog = bench.scale["relay_events"]
    say(f"4. relay: a backlog of {backlog:,} stored events to Kafka")
    result = asyncio.run(_relay(bench, backlog))
    result |= {
        "baseline": "aiokafka, acks=all, idempotent, same payloads (messages/s)",
        "target": TARGETS["relay"],
    }
    result["met"] = result["ratio"] >= TARGET_RATIOS["relay"]
    say(
        f"   relay {result['messages_per_s']:.0f} messages/s; raw aiokafka "
        f"{result['baseline_per_s']:.0f}/s; ratio {result['ratio']:.2f}; CPU "
        f"{result['cpu_us_per_message']:.0f} vs {result['baseline_cpu_us_per_message']:.0f} "
        "µs per message"
    )
    return result
