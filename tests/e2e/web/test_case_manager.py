"""A case manager at a desk or on a phone: reports a lost contact, meets the duplicate's
refusal with a link to the open case, sorts the district's queue, reads the case with its
timeline, records the contact restored and closes the case."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from tests.support.browser import Screen, check_accessibility

pytestmark = pytest.mark.e2e


def test_a_case_manager_reports_follows_and_closes_a_case(
    device: Screen, staff: Callable[..., tuple[str, str]], district: str
) -> None:
    user, password = staff("case_manager", district)
    page = device.sign_in(user, password, "/")
    expect(page).to_have_url(f"{device.base_url}/faelle")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Kontaktverluste")

    page.get_by_role("link", name="Kontaktverlust melden").click()
    number = f"{uuid.uuid4().int % 1000:03d}D{uuid.uuid4().int % 10**6:06d}"
    name = f"Erika Zyx{uuid.uuid4().hex[:6]}"
    deadline = dt.date.today() - dt.timedelta(days=3)
    page.get_by_label("Kundennummer").fill(number)
    page.get_by_role("textbox", name="Name", exact=True).fill(name)
    page.get_by_label("Anschrift").fill("Wilhelmshöher Allee 12, 34117 Kassel")
    page.get_by_label("Telefon").fill("0561 123456")
    page.get_by_label("Geschäftsstelle").fill("Mitte")
    page.get_by_label("Grund").select_option("missed_appointments")
    page.get_by_label("Versäumte Termine").fill("2")
    page.get_by_label("Frist (optional)").fill(deadline.isoformat())
    check_accessibility(page, "report form")
    device.shoot("case-manager-report")
    page.get_by_role("button", name="Melden", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("Der Kontaktverlust ist gemeldet.")
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(page.locator(".facts")).to_contain_text("verstrichen")
    expect(page.locator(".facts")).to_contain_text(deadline.strftime("%d.%m.%Y"))
    expect(page.locator(".timeline")).to_contain_text("Kontaktverlust gemeldet")
    case_url = page.url.split("?")[0]
    check_accessibility(page, "case")
    device.shoot("case-manager-case")

    # The same person again: a sentence, and the way to the open case.
    device.go("/faelle/neu")
    page.get_by_label("Kundennummer").fill(number)
    page.get_by_role("textbox", name="Name", exact=True).fill(name)
    page.get_by_label("Anschrift").fill("Wilhelmshöher Allee 12, 34117 Kassel")
    page.get_by_label("Geschäftsstelle").fill("Mitte")
    page.get_by_label("Grund").select_option("mail_returned")
    page.get_by_role("button", name="Melden", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("schon einen offenen Fall")
    expect(alert).to_be_focused()
    alert.get_by_role("link", name="Zum bestehenden Fall").click()
    expect(page).to_have_url(case_url)

    # The queue: sorted by deadline, the passed deadline first and counted.
    device.go("/faelle?sortierung=age")
    expect(page.get_by_label("Sortiert nach")).to_have_value("age")
    device.go("/faelle")
    expect(page.locator(".counts")).to_contain_text("1 Frist verstrichen")
    expect(page.locator("tbody tr").first).to_contain_text(name)
    check_accessibility(page, "queue")
    device.shoot("case-manager-queue")

    page.get_by_role("link", name=name).click()
    page.get_by_label("Wie").select_option("phone")
    page.get_by_role("button", name="Kontakt erfassen").click()
    expect(page.get_by_role("status")).to_have_text(
        "Der Kontakt ist als wiederhergestellt erfasst."
    )
    expect(page.locator(".timeline")).to_contain_text("Kontakt wiederhergestellt")
    page.get_by_label("Grund").select_option("contact_lasting")
    page.get_by_role("button", name="Abschließen").click()
    expect(page.get_by_role("status")).to_have_text("Der Fall ist abgeschlossen.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Abgeschlossen")
