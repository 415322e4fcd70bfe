"""Erasure (GDPR Art. 17) across the whole system: one person through all four services —
reported to contacts, a visit announced by letter and made (a note, a consented coaching
referral), a coach assigned (an introduction letter, an e-mail to the provider) — then the
data protection officer erases them on contacts.

Before the erasure the raw bytes of every event table of the four databases, every
``outreach.*`` topic, the stored letters, every service's log and trace file and the
e-mails received hold the person's name, address, phone, customer number and note only
sealed. Afterwards: nothing in plaintext anywhere, none of the person's tokens opens any
more, every service has blanked its views and confirmed (the certificate lists which
deployment confirmed when), every API answers ``[erased]`` or 410 for the person's data, and
the hash chain of all four event logs still verifies against its anchors.

All four services run as processes with databases of their own (``OUTREACH_SERVICE_NAME``):
the contacts service of the session and visits, coaching and notifications started for the
session (``system`` in ``conftest.py``), whose consumer groups start at the end of the
topics. The notifications service sends to a real SMTP server (aiosmtpd) of the session.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from email.message import Message
from typing import Any
from uuid import UUID

import httpx
import pytest
from kafka import KafkaConsumer

from shared.contracts import topic_of
from shared.privacy import ERASED, PersonalDataCipher
from shared.settings import ServiceSettings
from tests.e2e.test_personal_data import table_contents
from tests.support.e2e import (
    configure_letters,
    on_the_board,
    register_provider,
    report_body,
    with_purpose,
)
from tests.support.helpers import eventually, person
from tests.support.notifications import MailSink
from tests.support.processes import ROOT, ServiceProcess, read_topic

pytestmark = pytest.mark.e2e

SERVICES = ("contacts", "visits", "coaching", "notifications")


def outreach_topics(stack: ServiceSettings) -> list[str]:
    consumer = KafkaConsumer(bootstrap_servers=stack.kafka_bootstrap)
    try:
        return sorted(t for t in consumer.topics() if t.startswith("outreach."))
    finally:
        consumer.close()


def mail_bytes(message: Message) -> bytes:
    """A received e-mail as sent, and its body decoded (quoted-printable, base64)."""
    decoded = [
        part.get_payload(decode=True) or b"" for part in message.walk() if not part.is_multipart()
    ]
    return message.as_bytes() + b"\n" + b"\n".join(p for p in decoded if isinstance(p, bytes))


def verify_chain(service: str, database: str) -> str | None:
    """``python -m shared.chain verify``: its output once the chain verifies against at least
    one anchor and covers events (``None`` until then)."""
    done = subprocess.run(
        [sys.executable, "-m", "shared.chain", "verify", service, "--database", database],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout if done.returncode == 0 and '"verified": 0' not in done.stdout else None


def test_an_erased_person_is_forgotten_by_every_service_and_can_be_read_nowhere(
    system: dict[str, ServiceProcess],
    clients: dict[str, httpx.Client],
    databases: dict[str, str],
    mail: MailSink,
    stack: ServiceSettings,
    cipher: PersonalDataCipher,
    mint: Callable[..., str],
    district: str,
) -> None:
    contacts, visits = clients["contacts"], clients["visits"]
    coaching, notifications = clients["coaching"], clients["notifications"]

    def auth(user: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(user, role, district)}"}

    tag = uuid.uuid4().hex[:6]
    manager, lead = auth(f"cm-lange-{tag}", "case_manager"), auth("tl-schmidt", "team_lead")
    worker, officer = (
        auth("ow-yilmaz", "outreach_worker"),
        auth("dpo-anna", "data_protection_officer"),
    )
    coach_user = f"pc-weber-{tag}"
    provider_id = register_provider(coaching, lead, district, coach_user)
    configure_letters(
        notifications,
        lead,
        district,
        {"ow-yilmaz": ("Ayşe Yılmaz", "frau"), coach_user: ("Jana Weber", "frau")},
    )
    born = date(1950, 1, 1) + timedelta(days=random.randrange(365 * 45))
    who = person(date_of_birth=born.isoformat())
    note = f"Schulden und Trennung besprochen, Vermerk {uuid.uuid4().hex[:10]}"
    street = who["address"].split(",")[0]  # a letter prints the address line by line
    secrets = {
        "name": who["name"],
        "address": who["address"],
        "street": street,
        "phone": who["phone"],
        "customer number": who["customer_number"],
        "date of birth": who["date_of_birth"],
        "note": note,
    }

    # 1. ContactLost, reported to contacts.
    created = contacts.post("/cases", json=report_body(district, who), headers=manager)
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]

    def case_detail() -> dict[str, Any] | None:
        response = contacts.get(f"/cases/{case_id}", headers=with_purpose(manager, "case_work"))
        return response.json() if response.status_code == 200 else None

    subject = UUID(eventually(case_detail, timeout=30, what="the case in contacts")["subject"])

    # 2. A visit is announced (the letter goes out) and made: a note, a consented referral.
    on_the_board(visits, worker, district, case_id)
    announced = visits.post(
        "/visits",
        json={
            "case_id": case_id,
            "workers": ["ow-yilmaz"],
            "purpose": "first_contact",
            "date": date.today().isoformat(),
        },
        headers=worker,
    )
    assert announced.status_code == 201, announced.text
    visit_id = announced.json()["visit_id"]

    def notifications_sent(count: int) -> list[dict[str, Any]] | None:
        response = notifications.get("/notifications", params={"district": district}, headers=lead)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        return rows if len(rows) >= count and all(r["status"] == "sent" for r in rows) else None

    eventually(lambda: notifications_sent(1), timeout=60, what="the announcement letter")

    completed = visits.post(
        f"/visits/{visit_id}/outcome",
        json={
            "outcome": "met_and_talked",
            "needs": ["debt"],
            "note": note,
            "coaching_referral_consent": True,
            "next_step": "coaching_referral",
        },
        headers=worker,
    )
    assert completed.status_code == 200, completed.text

    # 3. Coaching has the request; a coach is assigned.
    def requested() -> list[dict[str, Any]] | None:
        response = coaching.get(
            "/coachings", params={"district": district}, headers=with_purpose(manager, "coaching")
        )
        assert response.status_code == 200, response.text
        mine = [c for c in response.json()["coachings"] if c["case_id"] == case_id]
        return mine if mine and mine[0]["name"] else None

    (request,) = eventually(requested, timeout=60, what="the coaching request")
    coaching_id = request["coaching_id"]
    assigned = coaching.post(
        f"/coachings/{coaching_id}/assign",
        json={"provider_id": provider_id, "coach": coach_user},
        headers=manager,
    )
    assert assigned.status_code == 200, assigned.text

    # Everything has arrived: two letters, the e-mails to the case manager (contact restored
    # by the visit) and to the provider, the coach in the case's timeline.
    rows = eventually(lambda: notifications_sent(4), timeout=60, what="letters and e-mails")
    by_template = {r["template"]: r for r in rows}
    assert {
        "visit_announcement",
        "coach_introduction",
        "contact_restored",
        "provider_handover",
    } <= (by_template.keys())
    letters = [r for r in rows if r["channel"] == "letter"]
    assert len(letters) == 2
    message_ids = {f"<{r['idempotency_key']}@" for r in rows if r["channel"] == "email"}
    assert len(message_ids) == 2
    eventually(
        lambda: message_ids <= {str(m["Message-ID"]).split("@")[0] + "@" for m in mail.received()},
        timeout=30,
        what="the e-mails at the mail server",
    )

    def in_timeline() -> bool:
        detail = case_detail()
        return bool(detail) and any(t["what"] == "CoachingNoted" for t in detail["timeline"])

    eventually(in_timeline, timeout=60, what="the coach in the case's timeline")
    letter_ids = [r["notification_id"] for r in letters]
    letter = notifications.get(
        f"/notifications/{letter_ids[0]}/letter", headers=with_purpose(worker, "visit_planning")
    )
    assert letter.status_code == 200, letter.text
    assert who["name"] in letter.json()["text"]  # opened for an authorised reader only
    logged = notifications.get(
        "/dpo/access-log", params={"subject": str(subject)}, headers=officer
    ).json()["entries"]
    assert [(e["route"], e["purpose"], e["user"]) for e in logged] == [
        ("GET /notifications/{notification_id}/letter", "visit_planning", "ow-yilmaz")
    ]

    # The Art. 15 export of notifications names every recipient: the letters to the person
    # (template, date) and the e-mails about them (the recipient's role and address, date).
    export = notifications.get(f"/dpo/subjects/{subject}/export", headers=officer)
    assert export.status_code == 200, export.text
    recipients = export.json()["recipients"]
    sent = {(r["channel"], r["template"]): r for r in recipients}
    assert set(sent) == {
        ("letter", "visit_announcement"),
        ("letter", "coach_introduction"),
        ("email", "contact_restored"),
        ("email", "provider_handover"),
    }
    assert all(r["sent_at"] for r in recipients)
    for template in ("visit_announcement", "coach_introduction"):
        assert sent["letter", template]["print_day"] == letters[0]["print_day"]
    restored = sent["email", "contact_restored"]
    assert restored["recipient_kind"] == "case_manager"
    assert restored["address"] == f"cm-lange-{tag}@jobcenter.example"
    handover = sent["email", "provider_handover"]
    assert handover["recipient_kind"] == "provider"
    assert handover["address"] == f"traeger-{provider_id}@jobcenter.example"
    exported_letters = export.json()["personal_data"]["letters"]
    assert len(exported_letters) == 2
    assert all(who["name"] in exported["text"] for exported in exported_letters)

    # 4. Before the erasure: everywhere only sealed.
    # Tokens of the person: ``pii:v1:<subject>:...`` (and of a data category, ``pii:v2:``).
    token_pattern = re.compile(
        rb"pii:v[0-9]+:" + subject.hex.encode() + rb":(?:[a-z_]+:)?[A-Za-z0-9_-]+={0,2}"
    )

    def places() -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for service, database in databases.items():
            for table, content in table_contents(stack, database).items():
                found[f"{service} table {table}"] = content
        for topic in outreach_topics(stack):
            found[f"topic {topic}"] = b"\n".join(
                (r.key or b"") + b"\t" + (r.value or b"") + b"\t" + repr(r.headers).encode()
                for r in read_topic(stack, topic)
            )
        for service, process in system.items():
            found[f"{service} log"] = process.log_path.read_bytes()
            if process.trace_path.exists():
                found[f"{service} trace file"] = process.trace_path.read_bytes()
        for index, message in enumerate(mail.received()):
            found[f"e-mail {index} to {message['To']}"] = mail_bytes(message)
        return found

    def leaks(found: dict[str, bytes]) -> list[str]:
        return [
            f"{what} in {where}"
            for where, content in found.items()
            for what, value in secrets.items()
            if value.encode() in content
        ]

    before = places()
    assert leaks(before) == []
    for service in ("contacts", "visits", "notifications"):
        content = before[f"{service} table public.{service}_events"]
        assert token_pattern.search(content), f"no sealed field of the person in {service}"
    # Coaching's events of the person (a request from the visit, the assignment) carry no
    # personal field: they name the person by pseudonym; the name is in its case directory.
    assert str(subject).encode() in before["coaching table public.coaching_events"]
    assert token_pattern.search(before["coaching table public.case_directory"])
    for service in ("contacts", "visits"):
        assert token_pattern.search(before[f"topic {topic_of(service)}"])
    stored_letters = before["notifications table public.notifications"]
    assert len(token_pattern.findall(stored_letters)) >= 2  # the two letters, sealed

    def logged_tokens(found: dict[str, bytes]) -> set[bytes]:
        """The person's tokens in the event tables and topics (views are blanked later)."""
        return {
            token
            for where, content in found.items()
            if where.endswith("_events") or where.startswith("topic ")
            for token in token_pattern.findall(content)
        }

    sealed = logged_tokens(before)
    assert cipher.open(sorted(sealed)[0].decode()) != ERASED  # they open, until the erasure

    # 5. The data protection officer erases the person on contacts.
    erase = {"subject": str(subject), "ground": "requested_by_person", "reason": "Az. DSB-2026-42"}
    accepted = contacts.post("/dpo/erasures", json=erase, headers=officer)
    assert accepted.status_code == 202, accepted.text
    erasure_id = accepted.json()["erasure_id"]
    ours = {databases[s]: s for s in SERVICES}

    def confirmed_by_all() -> dict[str, Any] | None:
        response = contacts.get(f"/dpo/erasures/{erasure_id}", headers=officer)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        deployments = {c["deployment"] for c in body["confirmations"]}
        return body if set(ours) <= deployments else None

    certificate = eventually(confirmed_by_all, timeout=90, what="all four confirmations")
    assert certificate["complete"] is True
    assert certificate["pending"] == []
    assert certificate["requested_by"] == "dpo-anna"
    assert certificate["ground"] == "requested_by_person"
    destroyed = datetime.fromisoformat(certificate["key_destroyed_at"])
    confirmations = {
        c["deployment"]: c for c in certificate["confirmations"] if c["deployment"] in ours
    }
    for deployment, service in ours.items():
        confirmation = confirmations[deployment]
        assert confirmation["service"] == service
        assert datetime.fromisoformat(confirmation["confirmed_at"]) >= destroyed

    # 6. Afterwards: no plaintext anywhere, and none of the person's tokens opens.
    after = places()
    assert leaks(after) == []
    remaining = logged_tokens(after)
    assert sealed <= remaining  # the event logs and topics keep their tokens ...
    # ... and not one of them (nor of the stored letters) opens any more.
    letter_tokens = set(token_pattern.findall(stored_letters))
    assert {cipher.open(t.decode()) for t in remaining | letter_tokens} == {ERASED}
    # Every service blanked its views: no token of the person is left in them.
    views = {
        "contacts": ("case_queue", "case_detail"),
        "visits": ("planning_board", "visit_record"),
        "coaching": ("case_directory", "coaching_record"),
        "notifications": ("notifications", "directory_cases"),
    }
    for service, tables in views.items():
        for table in tables:
            content = after[f"{service} table public.{table}"]
            assert not token_pattern.search(content), f"a token left in {service} {table}"
    for service in ("contacts", "visits", "notifications"):
        assert token_pattern.search(after[f"{service} table public.{service}_events"])

    # 7. Every API answers [erased] or 410 for the person's data.
    detail = case_detail()
    assert detail is not None
    assert set(detail["person"].values()) == {ERASED}
    visit = visits.get(f"/visits/{visit_id}", headers=with_purpose(worker, "visit_planning"))
    assert visit.status_code == 200, visit.text
    assert visit.json()["note"] == ERASED
    history = visits.get(f"/cases/{case_id}/visits", headers=with_purpose(worker, "visit_planning"))
    assert history.status_code == 200, history.text
    assert [v["note"] for v in history.json()["visits"]] == [ERASED]
    coaching_detail = coaching.get(
        f"/coachings/{coaching_id}", headers=with_purpose(manager, "coaching")
    )
    assert coaching_detail.status_code == 200, coaching_detail.text
    assert coaching_detail.json()["name"] == ERASED
    for letter_id in letter_ids:
        for path in ("letter", "letter.pdf"):
            gone = notifications.get(
                f"/notifications/{letter_id}/{path}", headers=with_purpose(worker, "visit_planning")
            )
            assert gone.status_code == 410, gone.text
            assert gone.json()["code"] == "subject_erased"
    day = letters[0]["print_day"]
    batch = notifications.get(
        f"/print-batches/{district}/{day}.pdf", headers=with_purpose(worker, "visit_planning")
    )
    assert batch.status_code == 200, batch.text
    assert batch.headers["x-letters"] == "0"
    assert batch.headers["x-letters-omitted"] == "2"
    for response in (visit, history, coaching_detail):
        for what, value in secrets.items():
            assert value not in response.text, what

    # 8. The audit trail of all four services still verifies against its anchors.
    for service, database in databases.items():
        output = eventually(
            lambda s=service, d=database: verify_chain(s, d),  # type: ignore[misc]
            timeout=60,
            what=f"the {service} chain to verify",
        )
        assert '"intact": true' in output, output
