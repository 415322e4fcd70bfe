"""The staff web app in a real browser: Debian's Chromium driven by Playwright for Python.

Playwright cannot download a browser on these machines; it drives ``/usr/bin/chromium``
(``make chromium`` installs it) with the flags this machine's closed network needs. Each test
signs in through Keycloak's own login page; ``check_accessibility`` runs axe-core (npm,
``web/package-lock.json``) in the page; ``shoot`` writes a screenshot of a page.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("OUTREACH_SCREENSHOTS") or ROOT / ".local" / "screenshots")

VIEWPORTS: dict[str, dict[str, Any]] = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
    "desk": {"viewport": {"width": 1366, "height": 900}},
}


@dataclass
class Screen:
    """One browser context (a phone or a desk) of one test, and what its pages reported."""

    context: BrowserContext
    page: Page
    base_url: str
    viewport: str
    csp_violations: list[str] = field(default_factory=list)

    def go(self, path: str) -> Page:
        self.page.goto(f"{self.base_url}{path}")
        return self.page

    def sign_in(self, user: str, password: str, path: str = "/") -> Page:
        """Through Keycloak's login page, as a person would."""
        page = self.go(path)
        expect(page.locator("#username")).to_be_visible()
        page.fill("#username", user)
        page.fill("#password", password)
        page.click("#kc-login")
        page.wait_for_url(re.compile(re.escape(self.base_url) + ".*"))
        return page

    def shoot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}-{self.viewport}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def screen(browser: Browser, base_url: str, viewport: str) -> Iterator[Screen]:
    context = browser.new_context(
        locale="de-DE", timezone_id="Europe/Berlin", **VIEWPORTS[viewport]
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    opened = Screen(context, page, base_url, viewport)

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            opened.csp_violations.append(message.text)

    context.on("console", on_console)
    try:
        yield opened
    finally:
        context.close()


def check_accessibility(page: Page, what: str) -> None:
    """axe-core in the page (through the DevTools protocol, so the page's CSP stays as it is):
    no serious or critical violation."""
    if page.evaluate("typeof window.axe") != "object":
        page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, f"{what}: accessibility violations:\n" + "\n".join(serious)
