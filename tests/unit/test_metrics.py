"""``/metrics`` of every process: the Prometheus exposition format, requests counted by route
template (never by path, so ids stay out of the labels), bounded reasons for dead letters,
and the api processes of one port added up (multiprocess mode)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from faststream.kafka import KafkaBroker
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from shared.http.app import ReadinessCheck, http_app
from shared.metrics.endpoint import install_metrics
from shared.metrics.registry import MULTIPROCESS_DIR, share_between_processes
from shared.metrics.service import dead_letter_reason, event_type
from shared.runtime import serve

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def _nothing(_: FastAPI) -> AsyncIterator[None]:
    yield


async def _yes() -> bool:
    return True


async def _away() -> bool:
    raise OSError("connection refused")


def _app(*, runs_work: bool, readiness: dict[str, ReadinessCheck] | None = None) -> FastAPI:
    readiness = readiness or {}
    app = http_app(title="t", description="d", lifespan=_nothing, readiness=readiness)

    @app.get("/cases/{case_id}")
    def case(case_id: str) -> dict[str, str]:
        return {"id": case_id}

    install_metrics(
        app, lambda: None, KafkaBroker("127.0.0.1:1"), runs_work=runs_work, readiness=readiness
    )
    return app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(_app(runs_work=True)) as test_client:
        yield test_client


def samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def requests_of(text: str, route: str, status: str) -> float:
    return sum(
        s.value
        for s in samples(text)
        if s.name == "http_requests_total"
        and s.labels.get("route") == route
        and s.labels.get("status") == status
    )


def test_metrics_are_served_in_the_prometheus_exposition_format(client: TestClient) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"http_requests", "http_request_duration_seconds", "process_cpu_seconds"} <= names


def test_requests_are_counted_by_route_template_and_never_name_the_id(client: TestClient) -> None:
    before = requests_of(client.get("/metrics").text, "/cases/{case_id}", "2xx")
    ids = [str(uuid4()) for _ in range(3)]
    for case_id in ids:
        assert client.get(f"/cases/{case_id}").status_code == 200

    text = client.get("/metrics").text

    assert requests_of(text, "/cases/{case_id}", "2xx") == before + 3
    assert not any(case_id in text for case_id in ids)


def test_a_path_that_matches_no_route_counts_as_unmatched_with_its_status_class(
    client: TestClient,
) -> None:
    before = requests_of(client.get("/metrics").text, "unmatched", "4xx")
    secret = f"/persons/{uuid4()}"

    assert client.get(secret).status_code == 404

    text = client.get("/metrics").text
    assert requests_of(text, "unmatched", "4xx") == before + 1
    assert secret not in text


def test_the_metrics_route_is_not_in_the_openapi_document(client: TestClient) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_a_process_before_its_runtime_started_serves_no_service_figures() -> None:
    with TestClient(_app(runs_work=True)) as test_client:
        text = test_client.get("/metrics").text

    assert "outreach_event_log_head" not in text
    assert "outreach_metrics_part_failed" not in text


def test_the_process_reports_each_readiness_check_and_whether_it_is_ready() -> None:
    with TestClient(_app(runs_work=False, readiness={"kafka": _yes, "database": _away})) as c:
        found = {
            (s.name, s.labels.get("check")): s.value
            for s in samples(c.get("/metrics").text)
            if s.name.startswith("outreach_read")
        }

    assert found == {
        ("outreach_readiness_check", "database"): 0,
        ("outreach_readiness_check", "kafka"): 1,
        ("outreach_ready", None): 0,
    }


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("invalid contract: person.name: missing", "invalid_contract"),
        ("invalid contract: the message has no value", "invalid_contract"),
        ("unreadable headers: not UTF-8: trace", "unreadable"),
        ("case_not_found: no case 4b0c…", "case_not_found"),
        ("IntegrityError: duplicate key value (subject)=(Müller)", "IntegrityError"),
        ("Anna Müller wohnt in Kassel", "other"),
        ("", "other"),
    ],
)
def test_a_dead_letter_reason_is_a_code_or_class_never_the_error_text(
    error: str, reason: str
) -> None:
    assert dead_letter_reason(error.split(":", 1)[0]) == reason


def test_the_event_type_label_is_the_class_path_without_the_module() -> None:
    assert event_type("contacts.domain:OutreachCase.Reported") == "OutreachCase.Reported"


ONE_API_PROCESS = textwrap.dedent(
    """
    import sys
    from fastapi.testclient import TestClient
    from tests.unit.test_metrics import _app

    with TestClient(_app(runs_work=False)) as client:
        for _ in range(int(sys.argv[1])):
            client.get("/cases/1")
        if len(sys.argv) > 2:
            sys.stdout.write(client.get("/metrics").text)
    """
)


def test_api_processes_sharing_a_port_report_their_requests_added_up(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", ONE_API_PROCESS, *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return done.stdout

    run("2")
    run("3")
    text = run("1", "scrape")

    assert requests_of(text, "/cases/{case_id}", "2xx") == 6


def test_a_port_s_api_processes_share_a_new_directory_and_earlier_ones_of_the_port_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(MULTIPROCESS_DIR, "")  # none named; restored after the test
    left = tmp_path / "outreach-metrics-8101-killed"  # a server of the port killed with -9
    (left / "sub").mkdir(parents=True)
    other = tmp_path / "outreach-metrics-8102-running"

    other.mkdir()
    with share_between_processes(8101) as directory:
        assert not left.exists()
        assert other.exists()
        assert directory.is_dir()
        assert list(directory.iterdir()) == []
        assert os.environ[MULTIPROCESS_DIR] == str(directory)


def test_a_metrics_directory_named_by_the_operator_is_emptied_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = tmp_path / "metrics"
    named.mkdir()
    (named / "counter_9.db").write_bytes(b"")  # of servers before this one
    monkeypatch.setenv(MULTIPROCESS_DIR, str(named))
    found: list[list[Path]] = []

    class Servers:
        def __init__(self, config: Any, sockets: list[socket.socket]) -> None:
            self.sockets = sockets

        def run(self) -> None:  # the processes found the directory, wrote, then stopped
            found.append(list(named.iterdir()))
            (named / "counter_1.db").write_bytes(b"")
            for sock in self.sockets:
                sock.close()

    monkeypatch.setattr(serve, "Multiprocess", Servers)
    serve.main(["probe:create_app", "--port", "0", "--workers", "2"])

    assert found == [[]]
    assert named.is_dir()


def test_the_api_processes_metrics_directory_is_removed_when_they_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(MULTIPROCESS_DIR, "")
    seen: list[Path] = []

    class Servers:
        def __init__(self, config: Any, sockets: list[socket.socket]) -> None:
            self.sockets = sockets

        def run(self) -> None:  # the processes wrote their files, then stopped
            directory = Path(os.environ[MULTIPROCESS_DIR])
            (directory / "counter_1.db").write_bytes(b"")
            seen.append(directory)
            for sock in self.sockets:
                sock.close()

    monkeypatch.setattr(serve, "Multiprocess", Servers)
    serve.main(["probe:create_app", "--port", "0", "--workers", "2"])

    assert len(seen) == 1
    assert seen[0].parent == tmp_path
    assert not seen[0].exists()
