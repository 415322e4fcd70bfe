"""One request, one trace: from the HTTP call through the relay and Kafka to a consumer."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.support.e2e import ContactsApi, ProbeView, event_id, report_body
from tests.support.helpers import eventually, person
from tests.support.processes import ProbeProcess, Process, ServiceProcess

pytestmark = pytest.mark.e2e


def spans_of(process: Process, trace_id: str, kind: str) -> list[dict[str, Any]]:
    return [
        span
        for span in process.spans()
        if span["context"]["trace_id"] == f"0x{trace_id}" and span["kind"] == f"SpanKind.{kind}"
    ]


def test_one_report_is_one_trace_from_the_http_request_across_kafka_to_the_consumer(
    api: ContactsApi,
    contacts_service: ServiceProcess,
    probe: ProbeProcess,
    probe_view: ProbeView,
    district: str,
) -> None:
    # The caller (e.g. the gateway) starts the trace; the service continues it.
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    headers = {
        **api.auth("cm-lange", "case_manager", district),
        "traceparent": f"00-{trace_id}-{caller_span}-01",
    }
    created = api.client.post("/cases", json=report_body(district, person()), headers=headers)
    assert created.status_code == 201, created.text
    probe_view.wait_for(probe.group, district, {event_id(created.json()["case_id"], 1)})

    server = eventually(
        lambda: spans_of(contacts_service, trace_id, "SERVER"),
        timeout=30,
        what="the HTTP server span of the contacts service",
    )
    assert [span["name"] for span in server] == ["POST /cases"]
    assert server[0]["parent_id"] == f"0x{caller_span}"

    topic = "outreach.contacts"
    producer = eventually(
        lambda: [s for s in spans_of(contacts_service, trace_id, "PRODUCER") if topic in s["name"]],
        timeout=30,
        what="the relay's producer span",
    )
    consumer = eventually(
        lambda: [s for s in spans_of(probe, trace_id, "CONSUMER") if topic in s["name"]],
        timeout=30,
        what="the probe's consumer span",
    )
    by_name = {span["name"]: span for span in producer}
    assert set(by_name) == {f"{topic} create", f"{topic} publish"}
    create, publish = by_name[f"{topic} create"], by_name[f"{topic} publish"]
    # server span -> the relay's "create" span -> its "publish" span, and the consumer's
    # span continues from "create", the context that travelled in the message headers.
    assert create["parent_id"] == server[0]["context"]["span_id"]
    assert publish["parent_id"] == create["context"]["span_id"]
    assert {span["parent_id"] for span in consumer} == {create["context"]["span_id"]}
