"""``deploy/local/services.py`` runs the staff web app in front of the whole system: ``up``
starts it after the services (pointed at their ports, moved by ``--port-offset`` alike),
``down`` stops it, and ``--only`` leaves it out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploy.local import services

pytestmark = pytest.mark.unit


@pytest.fixture
def brought_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[services.Managed]:
    """What ``up`` would bring back, in order, without starting anything."""
    monkeypatch.delenv("OUTREACH_WEB_PORT", raising=False)
    monkeypatch.setattr(services, "RUN", tmp_path / "run")
    managed: list[services.Managed] = []

    def bring_back(process: services.Managed) -> bool:
        managed.append(process)
        return True

    monkeypatch.setattr(services, "_bring_back", bring_back)
    return managed


def test_up_of_the_whole_system_starts_the_web_app_after_the_services(
    brought_up: list[services.Managed], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[Any, ...]] = []
    monkeypatch.setattr(services, "start_web", lambda *args: started.append(args))

    services.main(["up", "--port-offset", "7"])
    web = brought_up[-1]
    web.start()

    assert [m.label for m in brought_up] == [
        "mailsink",
        "contacts",
        "visits",
        "coaching",
        "notifications",
        "web",
    ]
    assert web.port == 8107
    port, _log, environment = started[0]
    assert port == 8107
    assert environment == {
        "OUTREACH_WEB_CONTACTS_URL": "http://127.0.0.1:8108",
        "OUTREACH_WEB_VISITS_URL": "http://127.0.0.1:8109",
        "OUTREACH_WEB_COACHING_URL": "http://127.0.0.1:8110",
        "OUTREACH_WEB_NOTIFICATIONS_URL": "http://127.0.0.1:8111",
    }


def test_up_of_one_service_leaves_the_web_app_out(brought_up: list[services.Managed]) -> None:
    services.main(["up", "--only", "contacts"])

    assert [m.label for m in brought_up] == ["contacts"]


def test_down_stops_the_web_app_unless_one_service_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(services, "RUN", tmp_path)
    (tmp_path / "web.pid").write_text("4242")
    (tmp_path / "contacts.pid").write_text("4343")
    stopped: list[int] = []
    monkeypatch.setattr(services, "stop_process_group", stopped.append)

    services.main(["down", "--only", "contacts"])
    assert stopped == [4343]
    assert (tmp_path / "web.pid").exists()

    services.main(["down"])
    assert stopped == [4343, 4242]
    assert not (tmp_path / "web.pid").exists()
