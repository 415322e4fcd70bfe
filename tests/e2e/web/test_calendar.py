"""An outreach worker's personal calendar link, on a phone and at a desk: made (shown once,
to copy or to open in the phone's calendar), its calendar fetched as a calendar app does (no
header) with the worker's visit, listed without its secret, revoked by keyboard alone after
a confirmation — and its calendar gone from that moment."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.web.conftest import Round
from tests.support.browser import Screen, check_accessibility

pytestmark = pytest.mark.e2e


def tab_to(page: Page, name: str, role: str = "link") -> None:
    """Tab through the page, as a keyboard user does, until ``name`` has the focus."""
    target = page.get_by_role(role, name=name)  # type: ignore[arg-type]
    for _ in range(40):
        page.keyboard.press("Tab")
        if target.evaluate("t => t === document.activeElement"):
            break
    expect(target).to_be_focused()


def test_a_worker_makes_uses_and_revokes_a_personal_calendar_link(
    device: Screen,
    staff: Callable[..., tuple[str, str]],
    round_of: Callable[[str], Round],
    district: str,
) -> None:
    user, password = staff("outreach_worker", district)
    _, name = round_of(user).visit("Kalenderweg 7", ("09:00", "10:00"))
    device.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=device.base_url)
    page = device.sign_in(user, password, "/kalender")
    expect(page.get_by_role("heading", level=1)).to_have_text("Persönlicher Kalender")
    expect(page.locator("main")).to_contain_text("Sie haben keinen Kalender-Link.")

    page.get_by_role("button", name="Kalender-Link anlegen").click()
    expect(page.get_by_role("status").first).to_have_text("Der Kalender-Link ist angelegt.")
    address = page.get_by_label("Adresse des Kalenders")
    url = address.input_value()
    assert url.startswith("http"), url
    assert url.endswith(".ics"), url
    subscribe = page.get_by_role("link", name="Im Kalender des Telefons abonnieren")
    assert subscribe.get_attribute("href") == "webcal://" + url.split("://", 1)[1]
    page.get_by_role("button", name="Link kopieren").click()
    expect(page.locator("#copy-status")).to_have_text(
        "Link kopiert. Fügen Sie ihn jetzt in Ihrem Kalender ein."
    )
    assert page.evaluate("navigator.clipboard.readText()") == url
    check_accessibility(page, "new calendar link")
    device.shoot("outreach-worker-calendar-link")

    # A calendar app fetches it without any header: the worker's visit, without the name.
    feed = httpx.get(url, timeout=10)
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"].startswith("text/calendar")
    assert "BEGIN:VCALENDAR" in feed.text
    assert "Kalenderweg 7" in feed.text
    assert name not in feed.text

    # Shown once: the page lists the link from now on, never its address.
    page.reload()
    expect(page.locator("main li[data-link]")).to_have_count(1)
    assert url.rsplit("/", 1)[1] not in page.content()
    check_accessibility(page, "calendar links")
    device.shoot("outreach-worker-calendar")

    # Revoked with the keyboard alone, after a confirmation.
    tab_to(page, "widerrufen")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kalender-Link widerrufen?")
    confirm_url = page.url
    check_accessibility(page, "revoke calendar link")
    tab_to(page, "Ja, widerrufen", "button")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_have_text(
        "Der Kalender-Link ist widerrufen; er zeigt keine Besuche mehr."
    )
    expect(page.locator("main")).to_contain_text("Sie haben keinen Kalender-Link.")
    assert httpx.get(url, timeout=10).status_code == 404

    # Revoked already: a sentence, not a stack trace.
    page.goto(confirm_url)
    expect(page.get_by_role("alert")).to_contain_text("Diesen Kalender-Link gibt es nicht (mehr)")
