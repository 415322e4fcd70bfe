"""Erasure (GDPR Art. 17) by crypto-shredding, through the running contacts service: a legal
hold blocks it, the data protection officer lifts the hold and erases; the key is destroyed,
the tombstone reaches the services, each confirms, and the certificate says so. Nothing of
the person can be decrypted afterwards, while the audit trail and its hash chain remain."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest

from shared.contracts import ERASURE_TOPIC, topic_of
from shared.privacy import ERASED, PersonalDataCipher
from shared.settings import ServiceSettings
from tests.e2e.test_personal_data import table_contents
from tests.support.e2e import ContactsApi
from tests.support.helpers import eventually, person
from tests.support.processes import ROOT, ServiceProcess, read_topic

pytestmark = pytest.mark.e2e


def plaintext_found(places: dict[str, bytes], secrets: dict[str, str]) -> list[str]:
    return [
        f"{what} in {where}"
        for where, content in places.items()
        for what, value in secrets.items()
        if value.encode() in content
    ]


def test_a_legal_hold_blocks_erasure_and_after_it_is_lifted_the_person_is_erased_everywhere(
    api: ContactsApi,
    contacts_service: ServiceProcess,
    contacts_database: str,
    cipher: PersonalDataCipher,
    stack: ServiceSettings,
    district: str,
) -> None:
    who = person()
    manager = api.auth("cm-erase", "case_manager", district)
    officer = api.auth("dpo-erase", "data_protection_officer", district)
    created = api.report(manager, district, who)
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    detail = api.detail_when_projected(manager, case_id)
    assert detail["person"]["name"] == who["name"]
    subject = UUID(detail["subject"])
    secrets = {k: str(v) for k, v in who.items()}

    def places() -> dict[str, bytes]:
        tables = table_contents(stack, contacts_database)
        return {
            **{f"table {name}": content for name, content in tables.items()},
            "topic outreach.contacts": b"\n".join(
                r.value for r in read_topic(stack, topic_of("contacts"))
            ),
            "topic outreach.erasures": b"\n".join(
                r.value for r in read_topic(stack, ERASURE_TOPIC)
            ),
            "contacts log": contacts_service.log_path.read_bytes(),
        }

    assert plaintext_found(places(), secrets) == []

    # A legal hold keeps the data: erasure is refused with a clear error.
    held = api.client.post(
        "/dpo/legal-holds",
        json={"subject": str(subject), "reason": "Klageverfahren Az. S 12 AS 345/26"},
        headers=officer,
    )
    assert held.status_code == 201, held.text
    erase = {"subject": str(subject), "ground": "requested_by_person", "reason": "Az. DSB-7"}
    refused = api.client.post("/dpo/erasures", json=erase, headers=officer)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "legal_hold"
    assert api.detail(manager, case_id).json()["person"]["name"] == who["name"]

    lifted = api.client.post(
        f"/dpo/legal-holds/{subject}/lift",
        json={"reason": "Verfahren abgeschlossen"},
        headers=officer,
    )
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["active"] is False

    # Only the data protection officer erases.
    assert api.client.post("/dpo/erasures", json=erase, headers=manager).status_code == 403

    accepted = api.client.post("/dpo/erasures", json=erase, headers=officer)
    assert accepted.status_code == 202, accepted.text
    erasure = accepted.json()
    assert erasure["key_destroyed_at"] is not None
    assert erasure["requested_by"] == "dpo-erase"
    assert erasure["subject"] == str(subject)

    def confirmed_by_contacts() -> dict[str, Any] | None:
        response = api.client.get(f"/dpo/erasures/{erasure['erasure_id']}", headers=officer)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        deployments = {c["deployment"] for c in body["confirmations"]}
        return body if contacts_database in deployments else None

    certificate = eventually(confirmed_by_contacts, timeout=30, what="contacts' confirmation")
    assert "contacts" not in certificate["pending"]
    assert certificate["reason"] == "Az. DSB-7"

    # Repeating the request changes nothing.
    again = api.client.post("/dpo/erasures", json=erase, headers=officer)
    assert again.status_code == 202, again.text
    assert again.json()["key_destroyed_at"] == erasure["key_destroyed_at"]

    answered = api.detail(manager, case_id).json()
    assert set(answered["person"].values()) == {ERASED}
    assert answered["status"] == "contact_lost"  # the case itself remains, under the pseudonym

    after = places()
    assert plaintext_found(after, secrets) == []
    # The views no longer even hold the person's tokens; the event log still does (sealed).
    assert f"pii:v1:{subject.hex}".encode() not in after["table public.case_detail"]
    assert f"pii:v1:{subject.hex}".encode() not in after["table public.case_queue"]
    events = after["table public.contacts_events"]
    tokens = set(re.findall(rb"pii:v1:" + subject.hex.encode() + rb":[A-Za-z0-9_=-]+", events))
    assert tokens
    assert {cipher.open(token.decode()) for token in tokens} == {ERASED}

    # The audit trail remains verifiable against its anchors.
    def verified() -> str | None:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "shared.chain", "verify", "contacts"),
                *("--database", contacts_database),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout if done.returncode == 0 and '"verified": 0' not in done.stdout else None

    assert '"intact": true' in eventually(verified, timeout=30, what="the chain to verify")


def test_only_the_data_protection_officer_places_legal_holds(
    api: ContactsApi, district: str
) -> None:
    manager = api.auth("cm-hold", "case_manager", district)
    created = api.report(manager, district, person())
    assert created.status_code == 201, created.text
    subject = api.detail_when_projected(manager, created.json()["case_id"])["subject"]

    refused = api.client.post(
        "/dpo/legal-holds", json={"subject": subject, "reason": "no reason"}, headers=manager
    )
    assert refused.status_code == 403


def test_a_person_of_another_district_cannot_be_erased(api: ContactsApi, district: str) -> None:
    manager = api.auth("cm-other", "case_manager", district)
    created = api.report(manager, district, person())
    assert created.status_code == 201, created.text
    subject = api.detail_when_projected(manager, created.json()["case_id"])["subject"]
    stranger = api.auth("dpo-other", "data_protection_officer", "elsewhere")

    response = api.client.post(
        "/dpo/erasures",
        json={"subject": subject, "reason": "Az. DSB-8"},
        headers=stranger,
    )
    assert response.status_code == 404


def test_the_retention_dry_run_reports_a_closed_case_due_and_a_held_one_held(
    api: ContactsApi, contacts_database: str, district: str
) -> None:
    manager = api.auth("tl-retention", "team_lead", district)
    officer = api.auth("dpo-retention", "data_protection_officer", district)
    subjects = []
    for _ in range(2):
        created = api.report(manager, district, person())
        assert created.status_code == 201, created.text
        case_id = created.json()["case_id"]
        subjects.append(api.detail_when_projected(manager, case_id)["subject"])
        assert api.close(manager, case_id, "contact_lasting").status_code == 200
    free, held = subjects
    placed = api.client.post(
        "/dpo/legal-holds", json={"subject": held, "reason": "Prüfung Az. 4711"}, headers=officer
    )
    assert placed.status_code == 201, placed.text
    in_six_years = (date.today() + timedelta(days=6 * 366)).isoformat()

    def dry_run() -> str | None:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "contacts.retention", "run", "--dry-run"),
                *("--today", in_six_years, "--database", contacts_database),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        erase = any(free in line and line.startswith("erase ") for line in lines)
        kept = any(held in line and line.startswith("held ") for line in lines)
        return done.stdout if erase and kept else None

    report = eventually(dry_run, timeout=30, what="both persons in the retention report")
    assert "dry run: nothing changed" in report
    # A dry run changes nothing: the person is still readable.
    assert api.client.get(f"/dpo/legal-holds/{free}", headers=officer).status_code == 404
