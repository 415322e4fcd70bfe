"""A stored event the views cannot hold (a NUL byte, which PostgreSQL's text refuses) stops
no read side of the running contacts service: it is parked and listed under ``/ops``, the
service stays ready and shows the count, and cases reported afterwards reach the queue.

The event is written into the service's event log through the application, as the HTTP API
refuses such input at its boundary.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from contacts.application import Contacts, PersonDetails

from shared.contracts.contacts import ContactLostReason
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.eventsourcing.persistence import eventsourcing_env
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.e2e import ContactsApi
from tests.support.helpers import eventually, person
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e


def test_a_poison_event_in_the_log_is_parked_and_the_service_stays_ready_and_current(
    api: ContactsApi,
    contacts_service: ServiceProcess,
    contacts_database: str,
    stack: ServiceSettings,
    cipher: PersonalDataCipher,
    district: str,
) -> None:
    app = Contacts(eventsourcing_env(stack, contacts_database), cipher=cipher)
    try:
        with acting_as(CommandContext(actor="cm-lange", role="case_manager")):
            poisoned = app.report_contact_lost(
                district=district,
                local_office="mitte\u0000nord",
                person=PersonDetails(customer_number="123P456789", name="Zyx Poison", address="-"),
                reason=ContactLostReason.UNANSWERED_INVITATIONS,
                unanswered_letters=2,
                missed_appointments=0,
                last_contact_on=None,
                deadline=None,
                case_manager="cm-lange",
            )
    finally:
        app.close()

    manager = api.auth("cm-lange", "case_manager", district)
    reported = [api.report(manager, district, person()) for _ in range(3)]
    assert [r.status_code for r in reported] == [201, 201, 201]
    later = {r.json()["case_id"] for r in reported}

    def queued() -> set[str] | None:
        response = api.queue(manager, district)
        shown = {case["case_id"] for case in response.json()["cases"]}
        return shown if later <= shown else None

    assert str(poisoned) not in eventually(queued, timeout=30, what="the later cases queued")

    lead = api.auth("tl-ops", "team_lead", district)

    def parked_of_the_case() -> list[dict[str, Any]]:
        body = api.client.get("/ops/parked", headers=lead).json()
        return [e for e in body["events"] if e["originator_id"] == str(poisoned)]

    parked = eventually(parked_of_the_case, timeout=30, what="the poison parked")
    assert {e["projection"] for e in parked} == {"case_queue", "case_detail"}
    assert {e["error_class"] for e in parked} == {"psycopg.DataError"}
    assert all("nord" not in str(e) and "Zyx" not in str(e) for e in parked)

    def caught_up() -> dict[str, Any] | None:
        views = api.client.get("/ops/projections", headers=lead).json()["projections"]
        return views if all(view["events_waiting"] == 0 for view in views.values()) else None

    # Past the poison, nothing waits; the head is a case's event, which the data protection
    # view (erasures, legal holds) never applies.
    views = eventually(caught_up, timeout=30, what="every projection caught up")
    assert views["data_protection"]["behind_log_head"] > 0

    ready = httpx.get(f"{contacts_service.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["parked_events"] >= 2
    assert ready.json()["projections"]["case_queue"]["running"] is True

    # Role-checked as every /ops route; a retry is for a team lead.
    worker = api.auth("ow-ops", "outreach_worker", district)
    assert api.client.get("/ops/parked", headers=worker).status_code == 403
    retry = {"projection": "case_queue", "aggregate_ids": [str(poisoned)]}
    assert api.client.post("/ops/parked/retry", json=retry, headers=manager).status_code == 403
    # Without a fix the event fails again and stays parked.
    again = api.client.post("/ops/parked/retry", json=retry, headers=lead)
    assert again.status_code == 200, again.text
    assert again.json()["applied"] == []
    assert [str(n) for n in again.json()["still_parked"]] == [
        str(e["notification_id"]) for e in parked if e["projection"] == "case_queue"
    ]
    unknown = api.client.post("/ops/parked/retry", json={"projection": "nope"}, headers=lead)
    assert unknown.status_code == 404
