"""The data-protection trail of the running contacts service: every read of personal data is
logged with who, whom, which fields and why; break-glass opens another district's case for a
while; the Art. 15 export gathers a person's data, events and accesses."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from pypdf import PdfReader

from shared import dpo
from tests.support.e2e import ContactsApi
from tests.support.helpers import person

pytestmark = pytest.mark.e2e


def access_log(api: ContactsApi, district: str, **params: str) -> list[dict[str, Any]]:
    officer = api.auth("dpo-trail", "data_protection_officer", district)
    response = api.client.get("/dpo/access-log", params=params, headers=officer)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


def reported_case(api: ContactsApi, district: str, who: dict[str, Any]) -> tuple[str, str]:
    """A new case of ``who`` in ``district``, projected: (case id, subject)."""
    manager = api.auth("cm-trail", "case_manager", district)
    response = api.report(manager, district, who)
    assert response.status_code == 201, response.text
    case_id = response.json()["case_id"]
    detail = api.detail_when_projected(manager, case_id)
    return case_id, detail["subject"]


def test_a_read_of_a_case_is_logged_with_who_whom_which_fields_and_why(
    api: ContactsApi, district: str
) -> None:
    case_id, subject = reported_case(api, district, person())
    worker = api.auth("ow-trail", "outreach_worker", district)

    response = api.detail(worker, case_id, purpose="visit_planning: Besuch am Dienstag")

    assert response.status_code == 200
    [entry] = access_log(api, district, subject=subject, user="ow-trail")
    assert entry["user"] == "ow-trail"
    assert entry["role"] == "outreach_worker"
    assert entry["user_districts"] == [district]
    assert entry["district"] == district
    assert entry["subject"] == subject
    assert entry["purpose"] == "visit_planning"
    assert entry["note"] == "Besuch am Dienstag"
    assert entry["route"] == "GET /cases/{case_id}"
    assert entry["resource"] == f"case:{case_id}"
    assert {"customer_number", "name", "address", "timeline"} <= set(entry["fields"])
    assert entry["at"]


def test_the_queue_logs_each_person_whose_name_it_shows(api: ContactsApi, district: str) -> None:
    _, first = reported_case(api, district, person())
    _, second = reported_case(api, district, person())
    lead = api.auth("tl-trail-queue", "team_lead", district)

    assert api.queue(lead, district).status_code == 200

    entries = access_log(api, district, user="tl-trail-queue")
    assert {e["subject"] for e in entries} == {first, second}
    assert all(e["fields"] == ["name"] and e["purpose"] == "case_work" for e in entries)


def test_a_read_without_a_stated_purpose_is_refused_and_reveals_nothing(
    api: ContactsApi, district: str
) -> None:
    case_id, subject = reported_case(api, district, person())
    manager = api.auth("cm-trail-nopurpose", "case_manager", district)

    missing = api.detail(manager, case_id, purpose=None)
    unknown = api.detail(manager, case_id, purpose="curiosity")
    claimed = api.detail(manager, case_id, purpose="break_glass")
    queue = api.queue(manager, district, purpose=None)

    assert missing.status_code == 400
    assert missing.json()["code"] == "purpose_required"
    assert "case_work" in missing.json()["allowed"]
    assert "Testperson" not in missing.text
    assert (unknown.status_code, unknown.json()["code"]) == (400, "invalid_purpose")
    assert (claimed.status_code, claimed.json()["code"]) == (400, "invalid_purpose")
    assert (queue.status_code, queue.json()["code"]) == (400, "purpose_required")
    assert access_log(api, district, subject=subject, user="cm-trail-nopurpose") == []


def test_only_the_data_protection_officer_reads_the_access_log_and_the_grants(
    api: ContactsApi, district: str
) -> None:
    lead = api.auth("tl-trail", "team_lead", district)

    for path in ("/dpo/access-log", "/dpo/break-glass"):
        response = api.client.get(path, headers=lead)
        assert (response.status_code, response.json()["code"]) == (403, "forbidden")


def test_break_glass_opens_another_districts_case_for_a_while_and_is_logged(
    api: ContactsApi, district: str
) -> None:
    case_id, subject = reported_case(api, district, person())
    elsewhere = f"{district}-new"
    manager = api.auth("cm-trail-moved", "case_manager", elsewhere)
    reason = "Person ist nach Kassel umgezogen; Übergabe an die neue Fallmanagerin"

    assert api.detail(manager, case_id).status_code == 404
    too_short = api.break_glass(manager, case_id, "moved")
    granted = api.break_glass(manager, case_id, reason)
    opened = api.detail(manager, case_id)

    assert too_short.status_code == 422
    assert granted.status_code == 201, granted.text
    grant = granted.json()
    assert grant["district"] == district
    assert opened.status_code == 200
    assert opened.json()["subject"] == subject
    [entry] = access_log(api, district, subject=subject, user="cm-trail-moved")
    assert entry["purpose"] == "break_glass"
    assert entry["user_districts"] == [elsewhere]
    assert entry["district"] == district
    assert reason in entry["note"]
    assert f"grant {grant['grant_id']}" in entry["note"]
    officer = api.auth("dpo-trail", "data_protection_officer", district)
    grants = api.client.get("/dpo/break-glass", params={"subject": subject}, headers=officer)
    [listed] = grants.json()["grants"]
    assert (listed["user"], listed["reason"], listed["resource"]) == (
        "cm-trail-moved",
        reason,
        f"case:{case_id}",
    )

    # The grant lasts OUTREACH_BREAK_GLASS_SECONDS (4 s in these tests); then 404 again.
    time.sleep(4.5)
    assert api.detail(manager, case_id).status_code == 404
    own = api.auth("cm-trail", "case_manager", district)
    not_needed = api.break_glass(own, case_id, reason)
    assert (not_needed.status_code, not_needed.json()["code"]) == (409, "break_glass_not_needed")


def test_the_export_of_a_person_holds_their_data_events_and_accesses(
    api: ContactsApi, district: str, tmp_path: Path
) -> None:
    who = person()
    case_id, subject = reported_case(api, district, who)
    manager = api.auth("cm-trail", "case_manager", district)
    assert api.update_details(manager, case_id, phone="0561 111222").status_code == 200
    note = quote("Akte prüfen")  # header values are ASCII; the note may be percent-encoded
    assert api.detail(manager, case_id, purpose=f"case_work: {note}").status_code == 200

    code = dpo.main(
        [
            "export",
            subject,
            "--district",
            district,
            "--out",
            str(tmp_path),
            "--service",
            f"contacts={api.client.base_url}",
        ]
    )

    assert code == 0
    export = json.loads((tmp_path / "export.json").read_text())
    part = export["services"]["contacts"]
    [case] = part["personal_data"]["cases"]
    assert case["person"]["name"] == who["name"]
    assert case["person"]["phone"] == "0561 111222"
    events = [e for e in part["events"] if e["aggregate"] == "OutreachCase"]
    assert [e["event_type"] for e in events] == ["ContactLost", "ContactDetailsUpdated"]
    assert events[0]["data"]["person"]["address"] == who["address"]
    assert events[0]["actor"] == "cm-trail"
    assert events[1]["data"]["changes"]["phone"] == "0561 111222"
    purposes = [(e["user"], e["purpose"], e["note"]) for e in part["access_log"]]
    assert ("cm-trail", "case_work", "Akte prüfen") in purposes
    assert ("dpo-export", "audit", "Art. 15 GDPR export") in purposes
    # Reading the export is itself logged.
    audits = [e for e in access_log(api, district, subject=subject) if e["purpose"] == "audit"]
    assert [e["user"] for e in audits] == ["dpo-export"]
    pages = PdfReader(tmp_path / "export.pdf").pages
    text = " ".join(" ".join(page.extract_text() for page in pages).split())  # lines rejoined
    assert who["name"] in text
    assert "ContactLost" in text
    assert "Akte prüfen" in text


def test_only_the_data_protection_officer_may_export(api: ContactsApi, district: str) -> None:
    _, subject = reported_case(api, district, person())
    lead = api.auth("tl-trail", "team_lead", district)

    response = api.client.get(f"/dpo/subjects/{subject}/export", headers=lead)

    assert response.status_code == 403
