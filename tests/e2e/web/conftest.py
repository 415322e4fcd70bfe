"""Fixtures of the web app's browser tests: the web app as a process in front of the four
services of the session's ``system``, Debian's Chromium, staff made in Keycloak, and visits
announced for today to one of them (`round_of`)."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from deploy.local import launcher, serving
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, Screen, screen
from tests.support.e2e import on_the_board, report_body, with_purpose
from tests.support.helpers import eventually, person
from tests.support.keycloak import PASSWORD, KeycloakUsers
from tests.support.processes import ServiceProcess, free_port

pytestmark = pytest.mark.e2e


class WebProcess:
    def __init__(self, workdir: Path, system: dict[str, ServiceProcess]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "web.log"
        self.env = {f"OUTREACH_WEB_{name.upper()}_URL": p.url for name, p in system.items()}
        self.process = serving.start_web(self.port, self.log_path, self.env)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def web_app(system: dict[str, ServiceProcess], e2e_dir: Path) -> Iterator[WebProcess]:
    web = WebProcess(e2e_dir, system)
    try:
        serving.wait_ready(web.port, timeout_s=60, process=web.process)
        yield web
    finally:
        launcher.stop_process_group(web.process.pid)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for the browser tests. Package-scoped: Playwright's synchronous API runs
    an event loop in the main thread while it is open, and tests after these call
    ``asyncio.run``."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's Chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(params=["phone", "desk"])
def viewport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def device(browser: Browser, web_app: WebProcess, viewport: str) -> Iterator[Screen]:
    """A fresh browser (no cookies, no storage) on a phone or at a desk."""
    with screen(browser, web_app.url, viewport) as opened:
        yield opened
        assert not opened.csp_violations, opened.csp_violations


@pytest.fixture
def staff(keycloak_users: KeycloakUsers) -> Callable[..., tuple[str, str]]:
    """A staff member of Keycloak with one role and district: (user name, password)."""

    def make(role: str, district: str, provider: str | None = None) -> tuple[str, str]:
        user = f"{role.split('_')[0][:8]}-{uuid.uuid4().hex[:8]}"
        keycloak_users.token(user, role, district, provider=provider)
        return user, PASSWORD

    return make


@dataclass
class Round:
    """Visits announced for today to one worker, over the services' HTTP APIs."""

    clients: dict[str, httpx.Client]
    lead: dict[str, str]
    district: str
    worker: str

    def visit(self, street: str, slot: tuple[str, str] | None = None) -> tuple[str, str]:
        who = person(address=f"{street}, 34117 Kassel")
        manager = self.lead
        created = self.clients["contacts"].post(
            "/cases", json=report_body(self.district, who), headers=manager
        )
        assert created.status_code == 201, created.text
        case_id = created.json()["case_id"]
        on_the_board(self.clients["visits"], self.lead, self.district, case_id)
        body: dict[str, Any] = {
            "case_id": case_id,
            "workers": [self.worker],
            "purpose": "first_contact",
            "date": dt.date.today().isoformat(),
        }
        if slot:
            body["time_slot"] = {"start": slot[0], "end": slot[1]}
        announced = self.clients["visits"].post("/visits", json=body, headers=self.lead)
        assert announced.status_code == 201, announced.text
        return announced.json()["visit_id"], who["name"]

    def status(self, visit_id: str) -> dict[str, Any]:
        answer = self.clients["visits"].get(
            f"/visits/{visit_id}", headers=with_purpose(self.lead, "visit_planning")
        )
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def completed(self, visit_id: str) -> dict[str, Any]:
        return eventually(
            lambda: (v := self.status(visit_id))["status"] == "completed" and v,
            timeout=30,
            what=f"visit {visit_id} completed",
        )


@pytest.fixture
def round_of(
    clients: dict[str, httpx.Client], mint: Callable[..., str], district: str
) -> Callable[[str], Round]:
    def make(worker: str) -> Round:
        lead = {"Authorization": f"Bearer {mint('tl-' + district[-6:], 'team_lead', district)}"}
        return Round(clients, lead, district, worker)

    return make
