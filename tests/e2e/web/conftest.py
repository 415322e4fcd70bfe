"""Fixtures of the web app's browser tests: the web app as a process in front of the four
services of the session's ``system``, Debian's Chromium, and staff made in Keycloak."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from deploy.local import launcher, serving
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, Screen, screen
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
