"""``deploy/local/services.py`` runs the staff web app in front of the whole system: ``up``
starts it after the services (pointed at their ports, moved by ``--port-offset`` alike),
``down`` stops it, and ``--only`` leaves it out. With ``--replicas N`` each service runs as N
processes, the first on the service's port, through the pooler; ``down`` stops them all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploy.local import managed, services

pytestmark = pytest.mark.unit


@pytest.fixture
def brought_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[services.Managed]:
    """What ``up`` would bring back, in order, without starting anything."""
    monkeypatch.delenv("OUTREACH_WEB_PORT", raising=False)
    monkeypatch.setattr(managed, "RUN", tmp_path / "run")
    brought: list[services.Managed] = []

    def bring_back(process: services.Managed) -> bool:
        brought.append(process)
        return True

    monkeypatch.setattr(services, "bring_back", bring_back)
    monkeypatch.setattr(services, "write_targets", lambda *args: None)
    return brought


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
    monkeypatch.setattr(managed, "RUN", tmp_path)
    (tmp_path / "web.pid").write_text("4242")
    (tmp_path / "contacts.pid").write_text("4343")
    stopped: list[int] = []
    monkeypatch.setattr(managed, "stop_process_group", stopped.append)
    monkeypatch.setattr(services, "remove_targets", lambda name: None)

    services.main(["down", "--only", "contacts"])
    assert stopped == [4343]
    assert (tmp_path / "web.pid").exists()

    services.main(["down"])
    assert stopped == [4343, 4242]
    assert not (tmp_path / "web.pid").exists()


def test_replicas_each_have_a_port_a_pid_file_and_the_pooler(
    brought_up: list[services.Managed], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "ensure_pgbouncer", lambda settings: 24433)
    monkeypatch.setattr(services, "pooler_env", lambda settings: {"OUTREACH_PG_POOLER_PORT": "1"})
    started: list[tuple[Any, ...]] = []
    monkeypatch.setattr(services, "start_service", lambda *args: started.append(args))

    services.main(["up", "--only", "visits", "--replicas", "3", "--port-offset", "5"])
    for process in brought_up:
        process.start()

    assert [(m.label, m.port) for m in brought_up] == [
        ("visits", 8107),
        ("visits-2", 8117),
        ("visits-3", 8127),
    ]
    assert [(args[1], args[2].name) for args in started] == [
        (8107, "visits.log"),
        (8117, "visits-2.log"),
        (8127, "visits-3.log"),
    ]
    assert all(args[3]["OUTREACH_PG_POOLER_PORT"] == "1" for args in started)


def test_down_stops_every_replica_and_status_names_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(managed, "RUN", tmp_path)
    for label, pid in (("coaching", 1), ("coaching-2", 2), ("coaching-3", 3)):
        (tmp_path / f"{label}.pid").write_text(str(pid))
    monkeypatch.setattr(services, "running_pid", lambda label: None)

    assert services.main(["status", "--only", "coaching"]) == 1
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [
        "coaching",
        "2",
        "3",
    ]

    stopped: list[int] = []
    monkeypatch.setattr(managed, "stop_process_group", stopped.append)
    monkeypatch.setattr(services, "remove_targets", lambda name: None)
    services.main(["down", "--only", "coaching"])
    assert stopped == [1, 2, 3]
    assert not list(tmp_path.glob("*.pid"))


def test_replicas_and_api_workers_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        services.main(["up", "--replicas", "2", "--api-workers", "2"])
