"""Rebuild the outreach figures from the product topics, sending nothing.

    python -m contacts.reporting.rebuild            # the contacts service's settings

In one transaction: the report's tables are locked and emptied, the report consumers' rows
of ``processed_messages`` are forgotten, and every message the topics hold now (from the
beginning of each partition to its end when the rebuild starts) is applied again, each with
its row in ``processed_messages``, exactly as the consumers apply it. Readers see the old
figures until it commits. The running consumers wait on the locked tables meanwhile, and
afterwards skip whatever the rebuild applied (their ``processed_messages`` rows exist) and
go on with what came later. A message that is not a valid contract is skipped (its consumer
parked it in the dead-letter topic when it first came).

What it can recover is what the topics still hold: they keep 30 days
(``shared/messaging/topics.py``). Older months come back empty, and a contact restored now
whose loss was reported more than 30 days ago is counted but has no days for the median.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from contacts.reporting.figures import COUNTED_EVENTS
from contacts.reporting.view import REPORT_TOPICS, OutreachReportView, consumer_name
from contacts.settings import ContactsSettings
from shared.contracts import Envelope, Payload, UnknownEventTypeError, parse_envelope
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.views import build_view
from shared.messaging import processed
from shared.messaging.processed import delivery

POLL_MS = 500


@dataclass
class Rebuilt:
    """What a rebuild read and applied, per topic."""

    read: dict[str, int] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)


def messages(bootstrap: str, topic: str) -> Iterator[Any]:
    """Every record of ``topic`` from the beginning of each partition to where it ends now
    (no consumer group: nothing is committed, no group's position moves)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        consumer.topics()  # fetches the cluster's metadata
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = consumer.end_offsets(partitions)
        waiting = {tp for tp in partitions if consumer.position(tp) < ends[tp]}
        while waiting:
            for tp, records in consumer.poll(timeout_ms=POLL_MS).items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record
                if consumer.position(tp) >= ends[tp]:
                    waiting.discard(tp)
                    consumer.pause(tp)
    finally:
        consumer.close()


def _envelope(record: Any) -> Envelope[Payload] | None:
    try:
        return parse_envelope(record.value) if record.value is not None else None
    except (ValueError, ValidationError, UnknownEventTypeError):
        return None


def rebuild(
    view: OutreachReportView,
    bootstrap: str,
    *,
    prefix: str,
    topics: Sequence[str] = REPORT_TOPICS,
) -> Rebuilt:
    """Empty the view and apply every message ``topics`` hold (see the module docstring)."""
    done = Rebuilt()
    names = {topic: consumer_name(prefix, topic) for topic in topics}
    with view.datastore.transaction(commit=True) as cursor:
        view.reset(cursor, list(names.values()))
        seen: set[tuple[str, str]] = set()
        with cursor.connection.pipeline():
            for topic in topics:
                read = applied = invalid = 0
                for record in messages(bootstrap, topic):
                    read += 1
                    envelope = _envelope(record)
                    if envelope is None:
                        invalid += 1
                        continue
                    key = (names[topic], str(envelope.event_id))
                    if envelope.event_type not in COUNTED_EVENTS or key in seen:
                        continue
                    seen.add(key)
                    view.apply(cursor, envelope)
                    processed.record(
                        cursor,
                        delivery(
                            names[topic],
                            envelope.event_id,
                            topic=record.topic,
                            partition=record.partition,
                            offset=record.offset,
                        ),
                    )
                    applied += 1
                done.read[topic], done.applied[topic], done.invalid[topic] = read, applied, invalid
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contacts.reporting.rebuild",
        description="Rebuild the outreach figures from the product topics (sends nothing).",
    )
    parser.parse_args(argv)
    settings = ContactsSettings()
    view = build_view(
        OutreachReportView, eventsourcing_env(settings, settings.database), "outreach_report"
    )
    started = time.monotonic()
    done = rebuild(view, settings.kafka_bootstrap, prefix=settings.service_name)
    for topic in done.read:
        print(
            f"{topic}: {done.read[topic]:,} messages read, {done.applied[topic]:,} counted, "
            f"{done.invalid[topic]:,} not valid (skipped)"
        )
    print(f"outreach figures rebuilt in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
