"""A message no consumer can read is parked in the dead-letter topic and counted; the
partition it came on keeps flowing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka import KafkaProducer

from shared.contracts import dead_letter_topic, topic_of
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.e2e import ContactsApi, ProbeView, event_id
from tests.support.helpers import eventually, person
from tests.support.processes import ProbeProcess, read_topic

pytestmark = pytest.mark.e2e


def headers_of(record: Any) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers or []}


def test_unreadable_messages_are_parked_and_counted_and_the_partition_keeps_flowing(
    api: ContactsApi,
    probe: ProbeProcess,
    probe_view: ProbeView,
    cipher: PersonalDataCipher,
    stack: ServiceSettings,
    district: str,
) -> None:
    topic = topic_of("contacts")
    who = person()
    # Keyed like the person's own events (by subject), so the poison lands on the partition
    # the valid event reported below will follow on.
    key = cipher.subject_for(who["customer_number"]).bytes
    marker = uuid.uuid4().hex
    garbage = b"\x00\xff\xfe not an event at all " + marker.encode()
    unknown_type = json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "ContactTeleported",
            "schema_version": 1,
            "occurred_at": datetime.now(UTC).isoformat(),
            "producer": "contacts",
            "district": district,
            "subject": str(uuid.UUID(bytes=key)),
            "correlation_id": str(uuid.uuid4()),
            "payload": {"marker": marker},
        }
    ).encode()
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    try:
        poison = [
            producer.send(topic, key=key, value=value).get(timeout=30)
            for value in (garbage, unknown_type)
        ]
    finally:
        producer.close()

    manager = api.auth("cm-lange", "case_manager", district)
    created = api.report(manager, district, who)
    assert created.status_code == 201, created.text
    valid = event_id(created.json()["case_id"], 1)
    applied = probe_view.wait_for(probe.group, district, {valid})
    assert applied == {valid: ("ContactLost", 1)}

    # The valid event came after the poison, on the same partition.
    published = [
        record
        for record in read_topic(stack, topic)
        if record.partition == poison[0].partition and valid.encode() in record.value
    ]
    assert published, "the valid event is not on the poisoned partition"
    assert all(record.offset > poison[1].offset for record in published)

    def parked() -> dict[bytes, dict[str, str]] | None:
        by_body = {
            record.value: headers_of(record)
            for record in read_topic(stack, dead_letter_topic(topic))
            if headers_of(record).get("consumer") == probe.group
        }
        return by_body if {garbage, unknown_type} <= by_body.keys() else None

    by_body = eventually(parked, timeout=30, what="the poison in the dead-letter topic")
    for body, sent in zip((garbage, unknown_type), poison, strict=True):
        assert by_body[body]["source"] == f"{topic}/{sent.partition}/{sent.offset}"
        assert by_body[body]["error"].startswith("invalid contract")
    assert "ContactTeleported" in by_body[unknown_type]["error"]

    counted = {(t, p, o): error for t, p, o, error in probe_view.dead_letters(probe.group)}
    for sent in poison:
        assert counted[(topic, sent.partition, sent.offset)].startswith("invalid contract")
