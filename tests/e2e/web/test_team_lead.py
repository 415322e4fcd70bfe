"""A team lead: the planning board with its counts, announcing a visit (the lead-time rule
shown before submitting, a refusal in words), rescheduling and cancelling it, the
extension decisions due, contracting a provider for the outreach, the day's print batch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.browser import Screen, check_accessibility
from tests.support.e2e import configure_letters, on_the_board, register_provider, report_body
from tests.support.helpers import eventually, person

pytestmark = pytest.mark.e2e


def test_a_team_lead_plans_announces_moves_and_cancels_a_visit(
    device: Screen,
    staff: Callable[..., tuple[str, str]],
    clients: dict[str, httpx.Client],
    mint: Callable[..., str],
    district: str,
) -> None:
    lead_user, password = staff("team_lead", district)
    lead = {"Authorization": f"Bearer {mint(lead_user, 'team_lead', district)}"}
    worker = "ow-" + district[-6:]
    configure_letters(clients["notifications"], lead, district, {worker: ("Ayşe Yılmaz", "frau")})
    who = person()
    manager = {"Authorization": f"Bearer {mint('cm-lange', 'case_manager', district)}"}
    created = clients["contacts"].post("/cases", json=report_body(district, who), headers=manager)
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    on_the_board(clients["visits"], lead, district, case_id)

    page = device.sign_in(lead_user, password, "/")
    expect(page).to_have_url(f"{device.base_url}/planung")
    expect(page.locator(".counts")).to_contain_text("1 Zu planen")
    check_accessibility(page, "planning board")
    device.shoot("team-lead-board")

    page.get_by_role("link", name=f"Besuch ankündigen ({who['name']})").click()
    rule = page.locator("#lead-rule")
    expect(rule).to_contain_text("mindestens 0 Tage")
    page.get_by_role("textbox", name="Mitarbeiter/in", exact=True).fill(worker)
    yesterday = dt.date.today() - dt.timedelta(days=1)
    page.get_by_label("Tag", exact=True).fill(yesterday.isoformat())
    page.get_by_label("Anlass").select_option("first_contact")
    page.get_by_role("button", name="Ankündigen").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Der Besuch oder der Versand des Briefes läge in der Vergangenheit."
    )
    today = dt.date.today()
    page.get_by_label("Tag", exact=True).fill(today.isoformat())
    page.get_by_label("von", exact=True).fill("10:00")
    page.get_by_label("bis", exact=True).first.fill("11:00")
    check_accessibility(page, "announce form")
    device.shoot("team-lead-announce")
    page.get_by_role("button", name="Ankündigen").click()
    expect(page.get_by_role("status")).to_contain_text("Der Besuch ist angekündigt")
    expect(page.locator(".counts")).to_contain_text("1 Angekündigt")

    page.get_by_role("link", name=f"Besuch ansehen ({who['name']})").click()
    expect(page.locator(".facts")).to_contain_text("10:00–11:00 Uhr")
    page.get_by_label("In einem Zeitraum von Tagen").check()
    page.get_by_label("Zeitraum ab").fill(today.isoformat())
    page.get_by_label("bis", exact=True).last.fill((today + dt.timedelta(days=2)).isoformat())
    page.get_by_role("button", name="Verlegen und neu ankündigen").click()
    expect(page.get_by_role("status")).to_contain_text("Der Besuch ist verlegt")
    expect(page.locator(".facts")).to_contain_text("zwischen")
    check_accessibility(page, "visit")
    device.shoot("team-lead-visit")
    page.get_by_label("Grund").select_option("other")
    page.get_by_role("button", name="Besuch absagen").click()
    expect(page.get_by_role("status")).to_have_text("Der Besuch ist abgesagt.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Abgesagt")

    # The day's print batch holds the announcement and the rescheduling letters.
    def letters_today() -> int:
        batches = (
            clients["notifications"]
            .get("/print-batches", params={"district": district}, headers=lead)
            .json()
        )
        return sum(b["letters"] for b in batches if b["print_day"] == today.isoformat())

    eventually(lambda: letters_today() >= 2, timeout=60, what="the letters in the print batch")
    page.get_by_role("link", name="Druck").click()
    expect(page.locator(".notice")).to_contain_text("Heute:")
    with page.expect_download() as download:
        page.get_by_role("link", name="Druckstapel von heute (PDF)").click()
    pdf = download.value
    assert pdf.suggested_filename == f"briefe-{district}-{today.isoformat()}.pdf"
    assert pdf.path().read_bytes()[:5] == b"%PDF-"
    check_accessibility(page, "print batch")


def test_a_team_lead_decides_extensions_and_contracts_a_provider(
    device: Screen,
    staff: Callable[..., tuple[str, str]],
    clients: dict[str, httpx.Client],
    mint: Callable[..., str],
    district: str,
) -> None:
    lead_user, password = staff("team_lead", district)
    lead = {"Authorization": f"Bearer {mint(lead_user, 'team_lead', district)}"}
    coaching = clients["coaching"]
    provider = coaching.post(
        "/providers",
        json={"name": "Träger Zyx Kurzzeit", "districts": [district], "initial_term_months": 1},
        headers=lead,
    )
    assert provider.status_code == 201, provider.text
    provider_id = provider.json()["id"]
    coach = coaching.post(
        f"/providers/{provider_id}/coaches",
        json={
            "coach": "pc-" + district[-6:],
            "display_name": "Jana Weber",
            "max_caseload": 4,
            "emergency_line": "0561 7654321",
        },
        headers=lead,
    )
    assert coach.status_code == 201, coach.text
    manager = {"Authorization": f"Bearer {mint('cm-lange', 'case_manager', district)}"}
    who = person()
    created = clients["contacts"].post("/cases", json=report_body(district, who), headers=manager)
    case_id = created.json()["case_id"]

    def requested() -> str | None:
        answer = coaching.post(
            "/coachings",
            json={"case_id": case_id, "needs": ["debt"], "shared_fields": ["name"]},
            headers=manager,
        )
        return answer.json()["id"] if answer.status_code == 201 else None

    coaching_id = eventually(requested, timeout=60, what="the case known to coaching")
    assigned = coaching.post(
        f"/coachings/{coaching_id}/assign",
        json={"provider_id": provider_id, "coach": "pc-" + district[-6:]},
        headers=lead,
    )
    assert assigned.status_code == 200, assigned.text
    register_provider(coaching, lead, district, "pc2-" + district[-6:])

    page = device.sign_in(lead_user, password, "/verlaengerungen")
    expect(page.locator(".card")).to_contain_text(who["name"])
    check_accessibility(page, "extensions")
    device.shoot("team-lead-extensions")
    page.get_by_label("Grund der Verlängerung").select_option("household_situation")
    page.get_by_role("button", name="Verlängern").click()
    expect(page.get_by_role("status")).to_have_text("Das Coaching ist verlängert.")

    page.get_by_role("link", name="Träger").click()
    card = page.locator(".card", has_text="Träger Zyx Kurzzeit")
    expect(card).to_contain_text("3 von 4 Plätzen frei")
    card.get_by_role("button", name="Mit aufsuchender Arbeit beauftragen").click()
    expect(page.get_by_role("status")).to_have_text("Der Träger ist beauftragt.")
    card = page.locator(".card", has_text="Träger Zyx Kurzzeit")
    expect(card).to_contain_text("Beauftragt mit der aufsuchenden Arbeit")
    check_accessibility(page, "providers")
    device.shoot("team-lead-providers")
