"""A lost contact through both services: reported to contacts, on the visits planning board,
a visit announced and made, and the contact restored by the home visit in the case's
timeline — with one trace from the contacts HTTP request to the visits consumer.

The visits service (``visits_service`` in ``conftest.py``) runs as a process of its own with a
database of its own, like the contacts service of the session, so a visits service started by
``make up`` on the same stack never shares its views or its consumer groups.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

import httpx
import pytest

from shared.contracts import topic_of
from tests.support.e2e import ContactsApi, on_the_board, report_body, with_purpose
from tests.support.helpers import eventually, person
from tests.support.processes import Process, ServiceProcess

pytestmark = pytest.mark.e2e


def spans_of(process: Process, trace_id: str, kind: str) -> list[dict[str, Any]]:
    return [
        span
        for span in process.spans()
        if span["context"]["trace_id"] == f"0x{trace_id}" and span["kind"] == f"SpanKind.{kind}"
    ]


def test_a_home_visit_that_reached_the_person_restores_the_contact_in_the_case_timeline(
    api: ContactsApi,
    contacts_service: ServiceProcess,
    visits_service: ServiceProcess,
    visits_client: httpx.Client,
    district: str,
) -> None:
    manager = api.auth("cm-lange", "case_manager", district)
    worker = api.auth("ow-yilmaz", "outreach_worker", district)
    who = person()
    trace_id = secrets.token_hex(16)
    traced = {**manager, "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}

    # 1. The case manager reports the lost contact to the contacts service.
    created = api.client.post("/cases", json=report_body(district, who), headers=traced)
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]

    # 2. The person appears on the district's planning board of the visits service.
    (entry,) = on_the_board(visits_client, worker, district, case_id)
    assert entry["name"] == who["name"]

    # One trace: the contacts HTTP request, and the visits consumer that read its event.
    server = eventually(
        lambda: spans_of(contacts_service, trace_id, "SERVER"),
        timeout=30,
        what="the contacts HTTP span",
    )
    assert [span["name"] for span in server] == ["POST /cases"]
    consumed = eventually(
        lambda: [
            s
            for s in spans_of(visits_service, trace_id, "CONSUMER")
            if topic_of("contacts") in s["name"]
        ],
        timeout=30,
        what="the visits consumer span in the same trace",
    )
    assert {span["resource"]["attributes"]["service.name"] for span in consumed} == {"visits"}

    # 3. A visit is announced (for today: this deployment has no lead time) and made.
    day = date.today()
    announced = visits_client.post(
        "/visits",
        json={
            "case_id": case_id,
            "workers": ["ow-yilmaz", "ow-becker"],
            "purpose": "first_contact",
            "date": day.isoformat(),
            "time_slot": {"start": "10:00", "end": "11:00"},
        },
        headers=worker,
    )
    assert announced.status_code == 201, announced.text
    visit_id = announced.json()["visit_id"]
    # Read right after the 201, while the visit record view may still be a few ms behind.
    just_announced = visits_client.get(
        f"/visits/{visit_id}", headers=with_purpose(worker, "visit_planning")
    )
    assert just_announced.status_code == 200, just_announced.text
    assert just_announced.json()["status"] == "announced"

    agenda = eventually(
        lambda: visits_client.get(
            "/agenda",
            params={"day": day.isoformat()},
            headers=with_purpose(worker, "visit_planning"),
        ).json()["visits"],
        timeout=30,
        what="the visit on the worker's agenda",
    )
    assert [(v["visit_id"], v["address"]) for v in agenda] == [(visit_id, who["address"])]

    completed = visits_client.post(
        f"/visits/{visit_id}/outcome",
        json={
            "outcome": "met_and_talked",
            "needs": ["debt", "correspondence"],
            "note": "Briefe gemeinsam gesichtet",
            "coaching_referral_consent": True,
            "next_step": "coaching_referral",
        },
        headers=worker,
    )
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "completed"

    # 4. The contacts service restored the contact, through the home visit.
    def restored_by_visit() -> Any:
        detail = api.detail(worker, case_id)
        assert detail.status_code == 200, detail.text
        body = detail.json()
        return body if body["status"] == "contact_restored" else None

    detail = eventually(restored_by_visit, timeout=60, what="the contact restored by the visit")
    restored = [t for t in detail["timeline"] if t["what"] == "ContactRestored"]
    assert len(restored) == 1
    assert restored[0]["details"] == {
        "channel": "home_visit",
        "restored_on": date.today().isoformat(),
    }
    assert restored[0]["who"] == "ow-yilmaz"

    # ... and the person left the board; the visit is in their history.
    def off_the_board() -> bool:
        board = visits_client.get(
            "/board", params={"district": district}, headers=with_purpose(worker, "visit_planning")
        ).json()
        return not any(board["sections"].values())

    eventually(off_the_board, timeout=30, what="the person to leave the board")
    history = visits_client.get(
        f"/cases/{case_id}/visits", headers=with_purpose(worker, "visit_planning")
    ).json()
    assert [(v["visit_id"], v["outcome"]) for v in history["visits"]] == [
        (visit_id, "met_and_talked")
    ]


def test_an_outcome_recorded_against_an_older_version_is_a_conflict_naming_the_fields(
    api: ContactsApi, visits_client: httpx.Client, district: str
) -> None:
    """The phone's queued outcome names the version it was recorded against; the team lead
    moved the visit meanwhile: 409 ``visit_changed`` with both values of each differing
    field, and nothing applied until the worker decides on the current version."""
    manager = api.auth("cm-lange", "case_manager", district)
    lead = api.auth("tl-roth", "team_lead", district)
    worker = api.auth("ow-yilmaz", "outreach_worker", district)
    created = api.client.post("/cases", json=report_body(district, person()), headers=manager)
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    on_the_board(visits_client, lead, district, case_id)
    day = date.today()
    announced = visits_client.post(
        "/visits",
        json={
            "case_id": case_id,
            "workers": ["ow-yilmaz"],
            "purpose": "first_contact",
            "date": day.isoformat(),
        },
        headers=lead,
    )
    assert announced.status_code == 201, announced.text
    visit_id = announced.json()["visit_id"]
    reading = with_purpose(worker, "visit_planning")
    agenda = eventually(
        lambda: visits_client.get(
            "/agenda", params={"day": day.isoformat()}, headers=reading
        ).json()["visits"],
        timeout=30,
        what="the visit on the agenda",
    )
    seen = agenda[0]["version"]
    assert seen == 1

    moved = visits_client.post(
        f"/visits/{visit_id}/reschedule",
        json={"date": day.isoformat(), "time_slot": {"start": "14:00", "end": "15:00"}},
        headers=lead,
    )
    assert moved.status_code == 200, moved.text

    outcome = {"outcome": "not_met", "expected_version": seen}
    refused = visits_client.post(f"/visits/{visit_id}/outcome", json=outcome, headers=worker)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "visit_changed"
    assert problem["differing"] == ["time_from", "time_to"]
    assert problem["seen"] == {"time_from": None, "time_to": None}
    assert problem["current"] == {"time_from": "14:00", "time_to": "15:00"}
    assert problem["current_version"] == 2

    def moved_in_the_view() -> dict[str, Any] | None:
        detail: dict[str, Any] = visits_client.get(f"/visits/{visit_id}", headers=reading).json()
        return detail if detail["version"] >= 2 else None

    # The view follows the event log: the move shows once it is projected.
    detail = eventually(moved_in_the_view, timeout=30, what="the move in the visit's view")
    assert (detail["status"], detail["version"]) == ("announced", 2)

    decided = {"outcome": "not_met", "expected_version": 2}
    accepted = visits_client.post(f"/visits/{visit_id}/outcome", json=decided, headers=worker)
    assert accepted.status_code == 200, accepted.text
