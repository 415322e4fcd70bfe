"""The Art. 15 export: a person's events with their fields opened and others' withheld, and
the readable PDF (its text extracted with pypdf)."""

from __future__ import annotations

import io
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from contacts.application import Contacts, PersonDetails
from pypdf import PdfReader

from shared import dpo
from shared.contracts.contacts import ContactLostReason
from shared.eventsourcing.meta import acting_as
from shared.privacy import PersonalDataCipher

from .support import context

pytestmark = pytest.mark.unit

ERIKA = PersonDetails(customer_number="123D456789", name="Erika Größe", address="Am Markt 1")
MAX = PersonDetails(customer_number="987D654321", name="Max Nebenan", address="Am Markt 2")


def report(app: Contacts, person: PersonDetails) -> UUID:
    with acting_as(context()):
        return app.report_contact_lost(
            district="kassel",
            local_office="mitte",
            person=person,
            reason=ContactLostReason.UNANSWERED_INVITATIONS,
            unanswered_letters=3,
            missed_appointments=0,
            last_contact_on=date(2026, 3, 2),
            deadline=None,
            case_manager="cm-mueller",
        )


def test_the_events_of_a_person_are_exported_opened_and_nobody_elses(
    cipher: PersonalDataCipher,
) -> None:
    app = Contacts(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, cipher=cipher)
    case_id = report(app, ERIKA)
    report(app, MAX)
    with acting_as(context()):
        app.update_contact_details(case_id, name=None, address="Neue Straße 5", phone=None)
    subject = cipher.subject_for(ERIKA.customer_number)

    events = dpo.subject_events(app, cipher, subject)

    assert [(e["aggregate"], e["event_type"]) for e in events] == [
        ("OutreachCase", "ContactLost"),
        ("OutreachCase", "ContactDetailsUpdated"),
    ]
    assert events[0]["data"]["person"]["name"] == "Erika Größe"
    assert events[0]["actor"] == "cm-mueller"
    assert events[1]["data"]["changes"]["address"] == "Neue Straße 5"
    assert "Max Nebenan" not in str(events)


def test_a_field_of_another_person_is_withheld(cipher: PersonalDataCipher) -> None:
    erika = cipher.subject_for("erika")
    max_ = cipher.subject_for("max")
    value = {"members": [cipher.seal(erika, "Erika"), cipher.seal(max_, "Max")], "n": 2}

    assert dpo.open_for(erika, cipher, value) == {"members": ["Erika", dpo.WITHHELD], "n": 2}


def export() -> dict[str, Any]:
    return {
        "subject": "5f0c7ad2-a7a9-4c5e-9c1f-0e3d2b1a0f9e",
        "generated_at": "2026-12-01T10:00:00+00:00",
        "legal_basis": "Art. 15 GDPR",
        "unavailable": {"notifications": "not reachable: ConnectError"},
        "services": {
            "contacts": {
                "personal_data": {"cases": [{"person": {"name": "Erika Größe"}}]},
                "recipients": [],
                "events": [
                    {
                        "aggregate": "OutreachCase",
                        "aggregate_id": "c1",
                        "version": 1,
                        "event_type": "ContactLost",
                        "occurred_at": "2026-11-30T09:00:00+00:00",
                        "actor": "cm-mueller",
                        "role": "case_manager",
                        "data": {"person": {"name": "Erika Größe"}, "reason": "moved — unknown"},
                    }
                ],
                "access_log": [
                    {
                        "at": "2026-12-01T09:59:00+00:00",
                        "user": "ow-yilmaz",
                        "role": "outreach_worker",
                        "user_districts": ["kassel"],
                        "fields": ["address", "name"],
                        "purpose": "visit_planning",
                        "note": "Besuch am Dienstag",
                        "route": "GET /cases/{case_id}",
                    }
                ],
                "break_glass": [],
            },
            "coaching": {
                "personal_data": {},
                "recipients": [{"recipient": "Sculpture gGmbH", "fields": ["name", "phone"]}],
                "events": [],
                "access_log": [],
            },
        },
    }


def pdf_text(export: dict[str, Any]) -> str:
    pdf = dpo.render_pdf(export)
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_pdf_shows_data_recipients_events_and_accesses() -> None:
    text = pdf_text(export())

    assert "Art. 15 DSGVO" in text
    assert "Erika Größe" in text
    assert "Sculpture gGmbH" in text
    assert "Kontaktverlust gemeldet (OutreachCase.ContactLost)" in text
    assert "moved \u2014 unknown" in text  # printed as written
    assert "ow-yilmaz" in text
    assert "Zweck: Planung eines Besuchs" in text  # the stated purpose, in German
    assert "Dienstag" in text  # and its note
    assert "Briefe an Sie" in text  # an unreachable service is named


def test_the_pdf_answers_in_german_what_art_15_requires_before_the_annex() -> None:
    text = pdf_text(export())

    required = [
        "Welche Daten wir über Sie speichern",
        "Wofür wir Ihre Daten verwenden",
        "An wen Ihre Daten gegangen sind",
        "Wie lange wir Ihre Daten aufbewahren",
        "Woher Ihre Daten stammen",
        "Ihre Rechte",
        "Berichtigung",
        "Löschung",
        "Einschränkung der Verarbeitung",
        "Widerspruch",
        "Beschwerde bei einer Aufsichtsbehörde",
        "Anhang: technische Angaben",
    ]
    positions = [text.find(part) for part in required]
    assert -1 not in positions, [p for p, at in zip(required, positions, strict=True) if at < 0]
    assert positions == sorted(positions)  # the answer first, the annex last
    answer = text[: text.find("Anhang: technische Angaben")]
    assert "Name: Erika Größe" in answer
    for technical in ("personal_data", "recipients", "access_log", "Dienst:", "OutreachCase"):
        assert technical not in answer


def test_gather_asks_every_service_and_names_those_that_did_not_answer() -> None:
    import httpx

    def get(url: str, **_: Any) -> httpx.Response:
        if "8102" in url:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json={"events": [], "url": url})

    result = dpo.gather(
        UUID(int=1),
        {"contacts": "http://127.0.0.1:8101", "visits": "http://127.0.0.1:8102"},
        "token",
        get=get,
    )

    assert result["services"]["contacts"]["url"].endswith(
        "/dpo/subjects/00000000-0000-0000-0000-000000000001/export"
    )
    assert result["unavailable"] == {"visits": "not reachable: ConnectError"}
