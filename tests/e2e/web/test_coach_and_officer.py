"""A provider's coach (the caseload with free places, the hand-over packet of consented
fields only, sessions, household, partner referrals, the end) and the data protection
officer (the chain of every service, the reads of the figures, the access log, the Art. 15
answer, a legal hold, an erasure and its certificate)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.browser import Screen, check_accessibility
from tests.support.e2e import report_body, with_purpose
from tests.support.helpers import eventually, person

pytestmark = pytest.mark.e2e


def test_a_coach_works_the_caseload_with_only_the_consented_fields(
    device: Screen,
    staff: Callable[..., tuple[str, str]],
    clients: dict[str, httpx.Client],
    mint: Callable[..., str],
    district: str,
) -> None:
    coach_user, password = staff("provider_coach", district)
    lead = {"Authorization": f"Bearer {mint('tl-' + district[-6:], 'team_lead', district)}"}
    coaching = clients["coaching"]
    provider = coaching.post(
        "/providers", json={"name": "Sculpture Zyx", "districts": [district]}, headers=lead
    )
    provider_id = provider.json()["id"]
    coach = coaching.post(
        f"/providers/{provider_id}/coaches",
        json={
            "coach": coach_user,
            "display_name": "Lena Schmidt",
            "max_caseload": 6,
            "emergency_line": "0561 7654321",
        },
        headers=lead,
    )
    assert coach.status_code == 201, coach.text
    who = person()
    created = clients["contacts"].post("/cases", json=report_body(district, who), headers=lead)
    case_id = created.json()["case_id"]

    def requested() -> str | None:
        answer = coaching.post(
            "/coachings",
            json={"case_id": case_id, "needs": ["debt"], "shared_fields": ["name", "phone"]},
            headers=lead,
        )
        return answer.json()["id"] if answer.status_code == 201 else None

    coaching_id = eventually(requested, timeout=60, what="the case known to coaching")
    assigned = coaching.post(
        f"/coachings/{coaching_id}/assign",
        json={"provider_id": provider_id, "coach": coach_user},
        headers=lead,
    )
    assert assigned.status_code == 200, assigned.text

    page = device.sign_in(coach_user, password, "/")
    expect(page).to_have_url(f"{device.base_url}/coaching")
    expect(page.locator(".counts")).to_contain_text("5 frei bei Lena Schmidt (1 von 6)")
    check_accessibility(page, "caseload")
    device.shoot("coach-caseload")
    page.get_by_role("link", name=who["name"]).click()
    facts = page.locator(".facts")
    expect(facts).to_contain_text(who["phone"])
    expect(facts).not_to_contain_text(who["address"])  # not consented: never shown
    expect(page.locator("main")).not_to_contain_text(who["customer_number"])
    page.get_by_role("button", name="Sitzung erfassen").click()
    expect(page.get_by_role("status")).to_have_text("Die Sitzung ist erfasst.")
    page.get_by_label("Name", exact=True).fill("Mia Zyx")
    page.get_by_label("Beziehung").select_option("child")
    page.get_by_role("button", name="Hinzufügen").click()
    expect(page.get_by_role("status")).to_have_text("Die Person im Haushalt ist erfasst.")
    page.get_by_label("Stelle").select_option("youth_office")
    page.get_by_role("button", name="Vermittlung erfassen").click()
    expect(page.get_by_role("status")).to_have_text("Die Vermittlung ist erfasst.")
    expect(facts).to_contain_text("Jugendamt")
    expect(facts).to_contain_text("Mia Zyx (Kind)")
    check_accessibility(page, "hand-over packet")
    device.shoot("coach-packet")
    page.get_by_label("Grund", exact=True).select_option("person_declined")
    page.get_by_role("button", name="Beenden").click()
    expect(page.get_by_role("status")).to_have_text("Das Coaching ist beendet.")
    expect(facts).to_contain_text("Person möchte nicht (ohne Folgen)")


def test_the_officer_audits_answers_holds_and_erases(
    device: Screen,
    staff: Callable[..., tuple[str, str]],
    clients: dict[str, httpx.Client],
    mint: Callable[..., str],
    district: str,
) -> None:
    officer, password = staff("data_protection_officer", district)
    manager = {"Authorization": f"Bearer {mint('cm-' + district[-6:], 'case_manager', district)}"}
    who = person()
    created = clients["contacts"].post("/cases", json=report_body(district, who), headers=manager)
    case_id = created.json()["case_id"]
    read = clients["contacts"].get(
        f"/cases/{case_id}",
        headers=with_purpose(manager, "case_work: " + quote("Rückruf vorbereiten")),
    )
    assert read.status_code == 200, read.text
    subject = read.json()["subject"]
    reader = "mg-" + district[-6:]
    figures = clients["contacts"].get(
        "/reports/outreach",
        params={"district": district, "format": "csv"},
        headers={"Authorization": f"Bearer {mint(reader, 'management', district)}"},
    )
    assert figures.status_code == 200, figures.text

    page = device.sign_in(officer, password, "/")
    expect(page).to_have_url(f"{device.base_url}/datenschutz")
    expect(page.locator("table")).to_contain_text("intakt")
    check_accessibility(page, "data protection")
    device.shoot("officer-overview")

    page.get_by_role("main").get_by_role("link", name="Abrufe der Kennzahlen").click()
    page.get_by_label("Benutzer/in").fill(reader)
    page.get_by_role("button", name="Filtern").click()
    expect(page).to_have_url(
        f"{device.base_url}/datenschutz/kennzahlen?benutzer={reader}&von=&bis="
    )
    rows = page.locator("tbody tr")
    expect(page.get_by_text("1 Abruf (neueste zuerst).")).to_be_visible()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{reader} (Leitung)")
    expect(rows.first).to_contain_text(district)
    expect(rows.first).to_contain_text("CSV")
    check_accessibility(page, "reads of the figures")
    device.shoot("officer-figures-reads")

    page.get_by_role("link", name="Zugriffe").click()
    page.get_by_label("Pseudonym").fill(subject)
    page.get_by_role("button", name="Filtern").click()
    rows = page.locator("tbody tr")
    expect(rows.first).to_contain_text("case_work: Rückruf vorbereiten")
    expect(rows.first).to_contain_text("cm-" + district[-6:])
    check_accessibility(page, "access log")
    device.shoot("officer-access-log")

    page.get_by_role("link", name="Datenschutz").click()
    page.get_by_label("Pseudonym der Person").first.fill(subject)
    page.get_by_label("Anlass (wird protokolliert)").fill("Antrag vom 01.12., Az. DSB-7")
    with page.expect_download() as download:
        page.get_by_role("button", name="Auskunft herunterladen").click()
    assert download.value.suggested_filename == f"auskunft-{subject}.pdf"
    assert download.value.path().read_bytes()[:5] == b"%PDF-"

    hold = page.locator("form", has_text="Aufbewahrungssperre")
    hold.get_by_label("Pseudonym der Person").fill(subject)
    hold.get_by_label("Grund (ohne Personendaten)").fill("Widerspruchsverfahren Az. W-12")
    hold.get_by_role("button", name="Ausführen").click()
    expect(page.get_by_role("status")).to_have_text("Die Aufbewahrungssperre ist gesetzt.")
    erase = page.locator("form", has_text="Löschung")
    erase.get_by_label("Pseudonym der Person").fill(subject)
    erase.get_by_label("Begründung (ohne Personendaten)").fill("Antrag Az. DSB-7")
    erase.get_by_role("button", name="Löschen und Bescheinigung anzeigen").click()
    expect(page.get_by_role("alert")).to_contain_text("Aufbewahrungssperre")
    hold = page.locator("form", has_text="Aufbewahrungssperre")
    hold.get_by_label("Pseudonym der Person").fill(subject)
    hold.get_by_label("Grund (ohne Personendaten)").fill("Verfahren abgeschlossen")
    hold.get_by_label("Aktion").select_option("lift")
    hold.get_by_role("button", name="Ausführen").click()
    expect(page.get_by_role("status")).to_have_text("Die Aufbewahrungssperre ist aufgehoben.")
    erase = page.locator("form", has_text="Löschung")
    erase.get_by_label("Pseudonym der Person").fill(subject)
    erase.get_by_label("Begründung (ohne Personendaten)").fill("Antrag Az. DSB-7")
    erase.get_by_role("button", name="Löschen und Bescheinigung anzeigen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Löschbescheinigung")
    expect(page.locator(".facts")).to_contain_text(subject)
    expect(page.locator(".facts")).to_contain_text("Antrag der Person (Art. 17 DSGVO)")
    check_accessibility(page, "certificate")
    device.shoot("officer-certificate")
