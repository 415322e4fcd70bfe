"""6. The staff web app over a slow network: the case manager's queue (``/faelle``) and the
outreach worker's agenda (``/unterwegs``) loaded in Debian's Chromium on a phone viewport,
the network throttled to Chrome DevTools' "Fast 3G" profile and the CPU slowed 4x (as
Lighthouse's mobile profile does). Each page is loaded ``web_loads`` times with an empty cache
(a first visit: a new browser context that holds only the session cookie), then once more in
the same context (a repeat visit).

Reported per page: first contentful paint, the ``load`` event, the first view (the queue: its
first paint, the page is rendered on the server; the agenda: its visits on screen, which the
page's script fetches), and the bytes of script and of everything the first visit transferred
(``encodedDataLength``: headers and the body as sent, compressed or not) and decoded.

No raw baseline: the targets are absolute (issue: under 100 kB of script, first view under 2 s
on a throttled 3G profile).
"""

from __future__ import annotations

import datetime as dt
import secrets
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

from bench.harness import Bench, say, services_running
from bench.scales import TARGETS
from bench.seed import report_body
from deploy.local import keycloak_realm, launcher, serving
from shared.settings import LOCAL_REALM
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORTS

FAST_3G = {
    "offline": False,
    "latency": 562.5,
    "downloadThroughput": 180_000,
    "uploadThroughput": 84_375,
}
"""Chrome DevTools' "Fast 3G" (``NetworkManager``: 150 ms x 3.75 latency, 1.6 Mbit/s x 0.9
down, 750 kbit/s x 0.9 up; bytes per second)."""
CPU_SLOWDOWN = 4
VISITS = 6
"""Visits announced for today to the measured worker: the agenda's first view is all of them."""
CASES = 40
"""Cases in the measured district: the queue lists them all."""
SERVICE_ENV = {"OUTREACH_DEFAULT_MIN_LEAD_DAYS": "0"}
"""A visit for today is announced today (the agenda shows today and tomorrow)."""
UNREACHABLE = "http://127.0.0.1:9"
"""Coaching and notifications: neither page reads them."""


def _seed(urls: dict[str, str], token: str, district: str, worker: str, tag: str) -> None:
    """The district's cases, and visits of today for ``worker`` (over the services' APIs)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=headers, timeout=30) as http:
        cases = []
        for n in range(CASES):
            created = http.post(f"{urls['contacts']}/cases", json=report_body(n, district, tag))
            created.raise_for_status()
            cases.append(created.json()["case_id"])
        for case_id in cases[:VISITS]:
            _announce(http, urls["visits"], district, case_id, worker)


def _announce(http: httpx.Client, visits: str, district: str, case_id: str, worker: str) -> None:
    body = {
        "case_id": case_id,
        "workers": [worker],
        "purpose": "first_contact",
        "date": dt.date.today().isoformat(),
    }
    deadline = time.monotonic() + 60
    while True:  # the board's consumer puts the case on the board a moment after its report
        answer = http.post(f"{visits}/visits", json=body)
        if answer.status_code == 201:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"announcing a visit: {answer.status_code} {answer.text}")
        time.sleep(0.2)


def _users(district: str) -> dict[str, tuple[str, str]]:
    """A case manager and an outreach worker of ``district`` in Keycloak: (name, password)."""
    made = {}
    with keycloak_realm.Admin() as admin:
        for role in ("case_manager", "outreach_worker"):
            name, password = f"bench-{role.split('_')[0]}-{district[-8:]}", secrets.token_urlsafe()
            admin.put_user(LOCAL_REALM, name, role, {"districts": [district]}, password)
            made[role] = (name, password)
    return made


@contextmanager
def _web_app(urls: dict[str, str], logs: Path) -> Iterator[str]:
    port = launcher.free_port()
    env = {
        "OUTREACH_WEB_CONTACTS_URL": urls["contacts"],
        "OUTREACH_WEB_VISITS_URL": urls["visits"],
        "OUTREACH_WEB_COACHING_URL": UNREACHABLE,
        "OUTREACH_WEB_NOTIFICATIONS_URL": UNREACHABLE,
    }
    process = serving.start_web(port, logs / "web.log", env)
    try:
        serving.wait_ready(port, timeout_s=60, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        launcher.stop_process_group(process.pid)


def _signed_in(browser: Browser, base: str, user: tuple[str, str]) -> Any:
    """The session cookie of ``user``, signed in on Keycloak's page (unthrottled)."""
    context = browser.new_context(locale="de-DE", **VIEWPORTS["phone"])
    page = context.new_page()
    page.goto(f"{base}/")
    page.fill("#username", user[0])
    page.fill("#password", user[1])
    page.click("#kc-login")
    page.wait_for_url(f"{base}/**")
    state = context.storage_state()
    context.close()
    return {"cookies": state["cookies"], "origins": []}


class Transfers:
    """What the page's target fetched (the DevTools protocol's network events)."""

    def __init__(self, cdp: Any) -> None:
        self.kind: dict[str, str] = {}
        self.encoded: dict[str, int] = {}
        self.decoded: dict[str, int] = {}
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.dataReceived", self._data)
        cdp.on("Network.loadingFinished", self._finished)

    def _response(self, event: dict[str, Any]) -> None:
        self.kind[event["requestId"]] = event["type"]

    def _data(self, event: dict[str, Any]) -> None:
        rid = event["requestId"]
        self.decoded[rid] = self.decoded.get(rid, 0) + event["dataLength"]

    def _finished(self, event: dict[str, Any]) -> None:
        self.encoded[event["requestId"]] = int(event["encodedDataLength"])

    def bytes(self, kind: str | None = None) -> dict[str, int]:
        ids = [r for r in self.encoded if kind is None or self.kind.get(r) == kind]
        return {
            "requests": len(ids),
            "transferred": sum(self.encoded[r] for r in ids),
            "decoded": sum(self.decoded.get(r, 0) for r in ids),
        }


def _throttled(context: Any, page: Page) -> Transfers:
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", FAST_3G)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    return Transfers(cdp)


PAINTED = "performance.getEntriesByName('first-contentful-paint').length > 0"
FIRST_VIEW = {
    "/faelle": f"{PAINTED} && document.querySelector('main h1') && performance.now()",
    "/unterwegs": f"{PAINTED} && document.querySelectorAll('article.visit').length >= {VISITS}"
    " && performance.now()",
}
"""When a page's first view is on screen (in the page's clock, from the navigation's start):
painted, with what the worker came for."""


def _timings(page: Page, path: str) -> dict[str, float]:
    shown = page.wait_for_function(FIRST_VIEW[path], polling="raf", timeout=60_000)
    view = float(shown.json_value())
    page.wait_for_load_state("load")
    paint = page.evaluate(
        "() => { const p = performance.getEntriesByName('first-contentful-paint')[0];"
        " const n = performance.getEntriesByType('navigation')[0];"
        " return [p ? p.startTime : null, n.loadEventEnd]; }"
    )
    fcp, load = paint
    return {"fcp_ms": fcp, "load_ms": load, "first_view_ms": max(view, fcp)}


def _load_page(browser: Browser, base: str, state: Any, path: str) -> dict[str, Any]:
    """One first visit of ``path`` and one repeat visit in the same context."""
    # The page's CSP is not enforced in the measured context: Playwright's polling of the first
    # view evaluates its condition as a string in the page. Nothing else changes with it.
    context = browser.new_context(
        locale="de-DE", storage_state=state, bypass_csp=True, **VIEWPORTS["phone"]
    )
    try:
        page = context.new_page()
        transfers = _throttled(context, page)
        page.goto(f"{base}{path}", wait_until="commit")
        first: dict[str, Any] = {**_timings(page, path)}
        first["script"] = transfers.bytes("Script")
        first["all"] = transfers.bytes()
        page.wait_for_timeout(3000)  # the service worker's install, the page's late requests
        again = context.new_page()
        _throttled(context, again)
        again.goto(f"{base}{path}", wait_until="commit")
        return {"first": first, "repeat": _timings(again, path)}
    finally:
        context.close()


def _summary(loads: list[dict[str, Any]]) -> dict[str, Any]:
    def median(visit: str, key: str) -> float:
        return statistics.median(float(load[visit][key]) for load in loads)

    first = loads[-1]["first"]
    return {
        "first_view_ms": median("first", "first_view_ms"),
        "fcp_ms": median("first", "fcp_ms"),
        "load_ms": median("first", "load_ms"),
        "repeat_first_view_ms": median("repeat", "first_view_ms"),
        "script_bytes": first["script"]["transferred"],
        "script_decoded_bytes": first["script"]["decoded"],
        "script_requests": first["script"]["requests"],
        "page_bytes": first["all"]["transferred"],
        "page_requests": first["all"]["requests"],
        "loads": loads,
    }


def measure_web(bench: Bench, logs: Path) -> dict[str, Any]:
    district = f"bench-web-{bench.run_id}"
    users = _users(district)
    pages = {"/faelle": users["case_manager"], "/unterwegs": users["outreach_worker"]}
    with services_running(bench, logs, extra_env=SERVICE_ENV) as urls, _web_app(urls, logs) as base:
        say(f"web: seeding {CASES} cases, {VISITS} visits of today")
        _seed(urls, bench.token(district), district, users["outreach_worker"][0], bench.run_id)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                by_page = {}
                for path, user in pages.items():
                    state = _signed_in(browser, base, user)
                    loads = []
                    for n in range(bench.scale["web_loads"]):
                        loads.append(_load_page(browser, base, state, path))
                        shown = loads[-1]["first"]["first_view_ms"]
                        say(f"web: {path}, first visit {n + 1}: first view {shown:.0f} ms")
                    by_page[path] = _summary(loads)
            finally:
                browser.close()
    worst = max(p["first_view_ms"] for p in by_page.values())
    most_script = max(p["script_decoded_bytes"] for p in by_page.values())
    return {
        "profile": {**FAST_3G, "name": "Fast 3G (Chrome DevTools)", "cpu_slowdown": CPU_SLOWDOWN},
        "pages": by_page,
        "target": TARGETS["web"],
        "met": worst <= 2000 and most_script < 100_000,
    }
