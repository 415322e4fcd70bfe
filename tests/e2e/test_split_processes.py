"""The contacts service in the split layout the launcher starts with ``--api-workers N``:
three processes of role ``api`` (``shared.runtime.serve``) on the service's port and one
process of role ``worker`` beside it, all started at the same moment on a new database."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from deploy.local import launcher, serving
from shared.contracts import topic_of
from shared.settings import ServiceSettings
from tests.support.e2e import ContactsApi, ProbeView, event_id
from tests.support.helpers import eventually
from tests.support.processes import ProbeProcess, free_port, start_group_at_end

pytestmark = pytest.mark.e2e

API_WORKERS = 3


@dataclass
class Split:
    api_url: str
    worker_url: str
    api_log: Path
    worker_log: Path
    api: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def split(stack: ServiceSettings, e2e_dir: Path) -> Iterator[Split]:
    database = f"contacts_split_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    start_group_at_end(stack, f"{database}-coaching-notes", topic_of("coaching"))
    env = {"OUTREACH_SERVICE_NAME": database, "OUTREACH_KEY_CACHE_SECONDS": "0"}
    api_port, worker_port = free_port(), free_port()
    # Every process (three api, one worker) creates the schema of the same new database at
    # the same moment.
    api, worker = serving.start_split(
        "contacts", api_port, worker_port, e2e_dir, API_WORKERS, env, log_name=database
    )
    started = Split(
        api_url=f"http://127.0.0.1:{api_port}",
        worker_url=f"http://127.0.0.1:{worker_port}",
        api_log=e2e_dir / f"{database}.log",
        worker_log=e2e_dir / f"{database}-worker.log",
        api=api,
        worker=worker,
    )
    try:
        serving.wait_ready(worker_port, timeout_s=90, process=worker)
        serving.wait_ready(api_port, timeout_s=90, process=api)
        eventually(
            lambda: started_processes(started.api_log) == API_WORKERS,
            timeout=60,
            what=f"{API_WORKERS} api processes to start",
        )
        yield started
    finally:
        stoppers = [
            threading.Thread(target=launcher.stop_process_group, args=(process.pid,))
            for process in (api, worker)
        ]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )


def log_records(path: Path) -> list[dict[str, object]]:
    records = []
    for line in path.read_text(errors="replace").splitlines():
        with_json = line.strip()
        if with_json.startswith("{"):
            try:
                records.append(json.loads(with_json))
            except json.JSONDecodeError:
                continue
    return records


def started_processes(path: Path) -> int:
    return sum(
        1
        for record in log_records(path)
        if record.get("message") == "service started" and record.get("process_role") == "api"
    )


def test_api_processes_starting_together_on_a_new_database_all_serve_without_errors(
    split: Split,
) -> None:
    assert started_processes(split.api_log) == API_WORKERS
    api_log = split.api_log.read_text(errors="replace")
    assert "Traceback" not in api_log, api_log[-3000:]
    assert "died" not in api_log, api_log[-3000:]  # uvicorn's word for a failed server process
    worker_log = split.worker_log.read_text(errors="replace")
    assert "Traceback" not in worker_log, worker_log[-3000:]
    assert split.api.poll() is None
    assert split.worker.poll() is None


def test_each_process_reports_readiness_for_what_it_runs(split: Split) -> None:
    api = httpx.get(f"{split.api_url}/readyz", timeout=10)
    worker = httpx.get(f"{split.worker_url}/readyz", timeout=10)

    assert api.status_code == 200
    assert api.json()["checks"] == {"database": True}
    assert worker.status_code == 200
    assert worker.json()["checks"] == {"database": True, "kafka": True, "projections": True}


def test_the_worker_serves_operations_only(split: Split, mint: Callable[..., str]) -> None:
    lead = {"Authorization": f"Bearer {mint('tl-ops', 'team_lead', 'ops')}"}

    assert httpx.get(f"{split.worker_url}/cases", headers=lead, timeout=10).status_code == 404
    assert httpx.get(f"{split.worker_url}/ops/dead-letters", headers=lead).status_code == 200


def test_a_command_accepted_by_an_api_process_is_projected_and_relayed_by_the_worker(
    split: Split,
    probe: ProbeProcess,
    probe_view: ProbeView,
    mint: Callable[..., str],
    district: str,
) -> None:
    ops = {"Authorization": f"Bearer {mint('tl-ops', 'team_lead', 'ops')}"}
    with httpx.Client(base_url=split.api_url, timeout=30) as client:
        api = ContactsApi(client, mint)
        manager = api.auth("cm-lange", "case_manager", district)

        created = api.report(manager, district)
        assert created.status_code == 201, created.text
        case_id = created.json()["case_id"]

        # Projected by the worker's runners into the views the api processes read.
        detail = api.detail_when_projected(manager, case_id)
        assert detail["status"] == "contact_lost"

        def in_queue() -> bool:
            queue = api.queue(manager, district)
            assert queue.status_code == 200, queue.text
            return [case["case_id"] for case in queue.json()["cases"]] == [case_id]

        eventually(in_queue, timeout=30, what="the case in the queue served by the api")

    # Relayed to Kafka by the worker, once.
    applied = probe_view.wait_for(probe.group, district, {event_id(case_id, 1)})
    assert applied == {event_id(case_id, 1): ("ContactLost", 1)}
    worker_relay = httpx.get(f"{split.worker_url}/ops/relay", headers=ops, timeout=10).json()
    assert worker_relay["process_role"] == "worker"
    assert worker_relay["active"] is True
    assert worker_relay["position"] >= 1
    # The api processes do not relay; they report the position the worker recorded.
    api_relay = httpx.get(f"{split.api_url}/ops/relay", headers=ops, timeout=10).json()
    assert api_relay["process_role"] == "api"
    assert api_relay["runs_in"] == "worker"
    assert api_relay["active"] is False
    assert api_relay["position"] == worker_relay["position"]


def test_each_process_serves_metrics_of_what_it_runs(split: Split) -> None:
    """The api processes of the port answer one scrape together (their request counters in
    files of a shared directory, added up); the worker serves what the service knows."""
    api_before = httpx.get(f"{split.api_url}/metrics", timeout=10).text
    answered = [httpx.get(f"{split.api_url}/healthz", timeout=10) for _ in range(30)]
    api_after = httpx.get(f"{split.api_url}/metrics", timeout=10).text
    worker = httpx.get(f"{split.worker_url}/metrics", timeout=10).text

    assert all(response.status_code == 200 for response in answered)
    assert healthz_requests(api_after) - healthz_requests(api_before) >= 30
    assert "outreach_ready 1.0" in api_after
    assert "outreach_relay_backlog_events" not in api_after  # the worker relays
    assert "outreach_relay_backlog_events" in worker
    assert "outreach_consumer_lag_messages" in worker
    assert "outreach_ready 1.0" in worker


def healthz_requests(exposition: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels["route"] == "/healthz"
    )
