"""One outreach case through the whole system: HTTP -> event store -> relay -> Kafka ->
a consuming projection, and back out through the case detail view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.e2e import ContactsApi, ProbeView, event_id
from tests.support.helpers import eventually, person
from tests.support.processes import ProbeProcess

pytestmark = pytest.mark.e2e


def test_a_case_from_report_to_close_reaches_the_consumer_once_per_event_and_shows_its_timeline(
    api: ContactsApi, probe: ProbeProcess, probe_view: ProbeView, district: str
) -> None:
    started = datetime.now(UTC) - timedelta(minutes=1)
    manager = api.auth("cm-lange", "case_manager", district)
    worker = api.auth("ow-yilmaz", "outreach_worker", district)
    who = person()

    created = api.report(manager, district, who)
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    restored = api.restore(worker, case_id)
    assert restored.status_code == 200, restored.text
    assert restored.json()["status"] == "contact_restored"
    new_phone = "0561 7654321"
    updated = api.update_details(worker, case_id, phone=new_phone)
    assert updated.status_code == 200, updated.text
    closed = api.close(manager, case_id, "contact_lasting")
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"

    expected = {
        event_id(case_id, 1): "ContactLost",
        event_id(case_id, 2): "ContactRestored",
        event_id(case_id, 3): "ContactDetailsUpdated",
        event_id(case_id, 4): "OutreachCaseClosed",
    }
    applied = probe_view.wait_for(probe.group, district, set(expected))
    assert applied == {event: (kind, 1) for event, kind in expected.items()}

    def closed_in_detail_view() -> dict[str, object] | None:
        detail = api.detail_when_projected(worker, case_id)
        return detail if detail["status"] == "closed" else None

    detail = eventually(closed_in_detail_view, timeout=30, what="the closed case in the view")
    assert detail["district"] == district
    assert detail["closed_reason"] == "contact_lasting"
    assert detail["person"] == {
        "customer_number": who["customer_number"],
        "name": who["name"],
        "address": who["address"],
        "phone": new_phone,
        "date_of_birth": who["date_of_birth"],
    }
    timeline = detail["timeline"]
    assert [(t["version"], t["what"], t["who"], t["role"]) for t in timeline] == [
        (1, "ContactLost", "cm-lange", "case_manager"),
        (2, "ContactRestored", "ow-yilmaz", "outreach_worker"),
        (3, "ContactDetailsUpdated", "ow-yilmaz", "outreach_worker"),
        (4, "Closed", "cm-lange", "case_manager"),
    ]
    when = [datetime.fromisoformat(t["when"]) for t in timeline]
    assert when == sorted(when)
    assert all(started <= moment <= datetime.now(UTC) for moment in when)
    assert timeline[2]["details"] == {"changed": ["phone"]}
    assert timeline[3]["details"] == {"reason": "contact_lasting"}

    def queue_is_empty() -> bool:
        queue = api.queue(worker, district)
        assert queue.status_code == 200, queue.text
        return queue.json()["cases"] == []

    eventually(queue_is_empty, timeout=30, what="the closed case to leave the queue")
