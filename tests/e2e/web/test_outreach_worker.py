"""An outreach worker with a phone: today's and tomorrow's agenda in route order, a tap to
call, what the letter said; the outcome form (also by keyboard alone); outcomes recorded
without a signal sent when it returns, and a visit changed meanwhile resolved on the phone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.web.conftest import Round, WebProcess
from tests.support.browser import Screen, check_accessibility, screen

pytestmark = pytest.mark.e2e


def field_ready(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def test_the_agenda_shows_the_round_and_an_outcome_is_recorded(
    device: Screen,
    staff: Callable[..., tuple[str, str]],
    round_of: Callable[[str], Round],
    district: str,
) -> None:
    user, password = staff("outreach_worker", district)
    planned = round_of(user)
    later, later_name = planned.visit("Zyxweg 9", ("14:00", "15:00"))
    first, first_name = planned.visit("Abcstraße 2", ("09:00", "10:00"))

    page = device.sign_in(user, password, "/")
    expect(page).to_have_url(f"{device.base_url}/unterwegs")
    field_ready(page)
    cards = page.locator("article.visit")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text(first_name)  # route order: by street
    expect(cards.nth(1)).to_contain_text(later_name)
    expect(cards.nth(0)).to_contain_text("09:00–10:00 Uhr")
    expect(cards.nth(0)).to_contain_text("Abcstraße 2, 34117 Kassel")
    call = cards.nth(0).get_by_role("link", name="Anrufen")
    assert (call.get_attribute("href") or "").startswith("tel:0561")
    expect(cards.nth(0)).to_contain_text("Erstkontakt")
    expect(cards.nth(0)).to_contain_text("Freiwillig und ohne Folgen")
    check_accessibility(page, "field agenda")
    device.shoot("outreach-worker-agenda")

    cards.nth(0).get_by_role("button", name=f"Ergebnis erfassen: {first_name}").click()
    expect(page.get_by_role("heading", name="Ergebnis erfassen")).to_be_focused()
    page.get_by_label("Angetroffen, Gespräch geführt").check()
    page.get_by_label("Schulden").check()
    page.get_by_label("Notiz").fill("Briefe gemeinsam gesichtet")
    page.get_by_label("Die Person ist mit der Vermittlung an ein Coaching einverstanden").check()
    page.get_by_label("Nächster Schritt").select_option("coaching_referral")
    check_accessibility(page, "outcome form")
    device.shoot("outreach-worker-outcome")
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator("#status")).to_contain_text("Gesendet")
    expect(page.locator("#outbox")).to_be_hidden()
    done = planned.completed(first)
    assert (done["outcome"], done["needs"], done["note"]) == (
        "met_and_talked",
        ["debt"],
        "Briefe gemeinsam gesichtet",
    )
    assert planned.status(later)["status"] == "announced"


@pytest.fixture
def phone(browser: Browser, web_app: WebProcess) -> Iterator[Screen]:
    with screen(browser, web_app.url, "phone") as opened:
        yield opened
        assert not opened.csp_violations, opened.csp_violations


def record(page: Page, name: str, outcome: str, note: str) -> None:
    page.get_by_role("button", name=f"Ergebnis erfassen: {name}").click()
    page.get_by_label(outcome).check()
    page.get_by_label("Notiz").fill(note)
    page.get_by_role("button", name="Speichern").click()


def test_outcomes_recorded_offline_are_sent_when_the_signal_returns_and_a_conflict_is_decided(
    phone: Screen,
    staff: Callable[..., tuple[str, str]],
    round_of: Callable[[str], Round],
    district: str,
) -> None:
    user, password = staff("outreach_worker", district)
    planned = round_of(user)
    a, a_name = planned.visit("Am Anger 1")
    b, b_name = planned.visit("Birkenweg 2")
    c, c_name = planned.visit("Chattenstraße 3", ("10:00", "11:00"))

    page = phone.sign_in(user, password, "/unterwegs")
    field_ready(page)
    expect(page.locator("article.visit")).to_have_count(3)
    assert page.evaluate(
        "navigator.serviceWorker.ready.then(() => caches.has('outreach-shell-v1'))"
    )
    expect(page.locator("#status")).to_contain_text("Auch ohne Verbindung verfügbar")

    # In the stairwell: no signal. The page opens from the phone, the agenda from its storage.
    phone.context.set_offline(True)
    page.reload()
    field_ready(page)
    expect(page.locator("#status")).to_contain_text("Ohne Verbindung")
    expect(page.locator("article.visit")).to_have_count(3)
    record(page, a_name, "Gespräch an der Tür", "Offline notiert A")
    record(page, b_name, "Nicht angetroffen", "Offline notiert B")
    record(page, c_name, "Angetroffen, Gespräch geführt", "Offline notiert C")
    queued = page.locator("#outbox-list li[data-state=pending]")
    expect(queued).to_have_count(3)
    phone.shoot("outreach-worker-offline-queue")
    stored = page.evaluate(
        """() => new Promise((resolve) => {
            const open = indexedDB.open('outreach-field');
            open.onsuccess = () => {
              const read = open.result.transaction('outbox').objectStore('outbox').getAll();
              read.onsuccess = () => resolve(JSON.stringify(read.result.map((r) => ({
                state: r.state, bytes: Array.from(new Uint8Array(r.sealed.data)) }))));
            };
        })"""
    )
    assert "Offline notiert" not in stored  # sealed at rest
    assert a_name not in stored

    # Meanwhile the team lead moves visit C to the afternoon.
    moved = planned.clients["visits"].post(
        f"/visits/{c}/reschedule",
        json={"date": dt.date.today().isoformat(), "time_slot": {"start": "15:00", "end": "16:00"}},
        headers=planned.lead,
    )
    assert moved.status_code == 200, moved.text

    phone.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    conflict = page.locator("#outbox-list li[data-state=conflict]")
    expect(conflict).to_have_count(1)
    expect(conflict).to_contain_text(c_name)
    expect(conflict).to_contain_text("Der Besuch wurde inzwischen geändert.")
    expect(conflict).to_contain_text("Uhrzeit")
    expect(conflict.get_by_role("region", name="Ihr Eintrag")).to_contain_text("Offline notiert C")
    expect(conflict.get_by_role("region", name="Jetzt")).to_contain_text("15:00–16:00 Uhr")
    assert planned.completed(a)["note"] == "Offline notiert A"
    assert planned.completed(b)["outcome"] == "not_met"
    assert planned.status(c)["status"] == "announced"
    check_accessibility(page, "conflict")
    phone.shoot("outreach-worker-conflict")

    conflict.get_by_role("button", name="Trotzdem senden").click()
    expect(page.locator("#outbox")).to_be_hidden()
    sent = planned.completed(c)
    assert (sent["outcome"], sent["note"]) == ("met_and_talked", "Offline notiert C")


def test_the_outcome_form_is_used_with_the_keyboard_alone(
    phone: Screen,
    staff: Callable[..., tuple[str, str]],
    round_of: Callable[[str], Round],
    district: str,
) -> None:
    user, password = staff("outreach_worker", district)
    planned = round_of(user)
    visit_id, name = planned.visit("Dorfstraße 4")
    page = phone.sign_in(user, password, "/unterwegs")
    field_ready(page)

    record_button = page.get_by_role("button", name=f"Ergebnis erfassen: {name}")
    for _ in range(40):  # Tab through the page to the button, as a keyboard user does
        page.keyboard.press("Tab")
        if record_button.evaluate("b => b === document.activeElement"):
            break
    expect(record_button).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Ergebnis erfassen")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Angetroffen, Gespräch geführt")).to_be_focused()
    page.keyboard.press("ArrowDown")  # the radio group: the next outcome
    expect(page.get_by_label("Gespräch an der Tür")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Schulden")).to_be_focused()
    page.keyboard.press("Space")
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.get_by_role("button", name="Speichern").evaluate(
            "b => b === document.activeElement"
        ):
            break
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("Gesendet")
    done = planned.completed(visit_id)
    assert (done["outcome"], done["needs"]) == ("talked_at_door", ["debt"])


def test_signing_out_wipes_the_phones_stored_agenda_and_ends_the_session(
    phone: Screen,
    staff: Callable[..., tuple[str, str]],
    round_of: Callable[[str], Round],
    district: str,
) -> None:
    user, password = staff("outreach_worker", district)
    _, name = round_of(user).visit("Erlenweg 5")
    page = phone.sign_in(user, password, "/unterwegs")
    field_ready(page)
    expect(page.locator("article.visit")).to_contain_text(name)
    assert page.evaluate("indexedDB.databases().then((d) => d.map((x) => x.name))") == [
        "outreach-field"
    ]

    page.get_by_role("button", name="Abmelden").click()
    page.wait_for_url(f"{phone.base_url}/abgemeldet")
    expect(page.locator("body")).to_have_attribute("data-wiped", "true")
    assert page.evaluate("indexedDB.databases().then((d) => d.length)") == 0
    assert page.evaluate("caches.keys().then((k) => k.length)") == 0
    phone.go("/unterwegs")
    expect(page.locator("#username")).to_be_visible()  # signed out at Keycloak too
