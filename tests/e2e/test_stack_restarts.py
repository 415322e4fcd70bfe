"""The local stack stops and starts again cleanly, as often as it is asked to, and a service
running on it rides through: while Kafka or PostgreSQL is down its ``/readyz`` says so at once
(503, the check that fails named), and once they are back it is ready again by itself.

These tests run a second stack of their own (``OUTREACH_STACK_DIR``, ports of their own, all
outside the kernel's ephemeral range), so the stack of the rest of the session never stops.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from shared.contracts import topic_of
from shared.settings import ServiceSettings
from tests.support.e2e import ContactsApi, event_id
from tests.support.helpers import eventually, person
from tests.support.processes import ServiceProcess, free_port, read_topic

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


class Stack:
    """``deploy/local/stack.py`` run for the stack in ``directory``, on ports of its own."""

    def __init__(self, directory: Path) -> None:
        kafka, controller = free_port(), free_port()
        self.env = {
            "OUTREACH_STACK_DIR": str(directory),
            "OUTREACH_PG_PORT": str(free_port()),
            "OUTREACH_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka}",
            "OUTREACH_KAFKA_CONTROLLER_PORT": str(controller),
            "OUTREACH_PROMETHEUS_PORT": str(free_port()),
        }
        self.settings = ServiceSettings(
            pg_port=int(self.env["OUTREACH_PG_PORT"]),
            kafka_bootstrap=self.env["OUTREACH_KAFKA_BOOTSTRAP"],
        )

    def run(self, *args: str) -> str:
        """Run a command of the launcher; it must succeed. Returns what it printed."""
        done = subprocess.run(
            [sys.executable, str(ROOT / "deploy/local/stack.py"), *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"stack.py {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def durability(self) -> dict[str, str]:
        with psycopg.connect(self.settings.database_url("postgres")) as conn:
            rows = conn.execute(
                "SELECT name, setting FROM pg_settings "
                "WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')"
            ).fetchall()
        return {str(name): str(value) for name, value in rows}


DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


@pytest.fixture(scope="module")
def scratch_stack() -> Iterator[Stack]:
    # Under .local: PostgreSQL runs as its own user, which must reach the directory.
    directory = ROOT / ".local" / "test-stacks" / uuid.uuid4().hex[:8]
    directory.mkdir(parents=True)
    directory.parent.chmod(0o755)
    stack = Stack(directory)
    try:
        stack.run("up")
        yield stack
    finally:
        subprocess.run(
            [sys.executable, str(ROOT / "deploy/local/stack.py"), "down"],
            env={**os.environ, **stack.env},
            check=False,
        )
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def service_on_it(scratch_stack: Stack, e2e_dir: Path) -> Iterator[ServiceProcess]:
    service = ServiceProcess(
        "contacts",
        e2e_dir,
        {**scratch_stack.env},
        name=f"contacts-on-{scratch_stack.env['OUTREACH_PG_PORT']}",
    )
    service.start()
    yield service
    service.stop()


def readiness(service: ServiceProcess) -> httpx.Response:
    # A generous client timeout: the answer must come from the service, not from the client.
    return httpx.get(f"{service.url}/readyz", timeout=10)


def ready_again(service: ServiceProcess) -> None:
    eventually(
        lambda: readiness(service).status_code == 200, timeout=60, what="the service ready again"
    )


def test_a_new_stack_runs_postgresql_durably(scratch_stack: Stack) -> None:
    assert scratch_stack.durability() == DURABLE
    assert "durable (fsync, synchronous_commit, full_page_writes on)" in scratch_stack.run("status")


def test_the_unsafe_mode_is_asked_for_by_name_and_gone_at_the_next_up(scratch_stack: Stack) -> None:
    scratch_stack.run("pg-up", "--pg-durability", "unsafe-for-benchmarks")
    assert set(scratch_stack.durability().values()) == {"off"}
    assert "NOT DURABLE" in scratch_stack.run("status")

    scratch_stack.run("up")  # what `make test` and `make up` run

    assert scratch_stack.durability() == DURABLE


def test_kafka_stops_and_starts_again_three_times_and_the_service_follows(
    scratch_stack: Stack, service_on_it: ServiceProcess, mint: Callable[..., str]
) -> None:
    for _ in range(3):
        scratch_stack.run("kafka-down")
        down = readiness(service_on_it)
        assert down.status_code == 503
        assert down.json()["checks"]["kafka"] is False
        assert down.json()["checks"]["database"] is True

        scratch_stack.run("kafka-up")

        ready_again(service_on_it)
    # The relay publishes again: a case reported now reaches the restarted broker.
    district = f"test-{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=service_on_it.url, timeout=30) as client:
        api = ContactsApi(client, mint)
        answer = api.report(api.auth("cm-lange", "case_manager", district), district, person())
    assert answer.status_code == 201, answer.text
    wanted = event_id(answer.json()["case_id"], 1)

    def published() -> bool:
        records = read_topic(scratch_stack.settings, topic_of("contacts"))
        return any(wanted.encode() in (record.value or b"") for record in records)

    eventually(published, timeout=60, what="the case on the restarted broker")


@pytest.mark.parametrize("how", [(), ("--immediate",)], ids=["fast", "immediate"])
def test_postgresql_stops_and_starts_again_and_the_service_follows(
    scratch_stack: Stack, service_on_it: ServiceProcess, how: tuple[str, ...]
) -> None:
    for _ in range(2):
        scratch_stack.run("pg-down", *how)
        down = readiness(service_on_it)
        assert down.status_code == 503
        assert down.json()["checks"]["database"] is False

        scratch_stack.run("pg-up")

        assert scratch_stack.durability() == DURABLE
        ready_again(service_on_it)


def test_the_durability_benchmark_measures_both_modes_and_leaves_postgresql_durable(
    scratch_stack: Stack, tmp_path: Path
) -> None:
    """``python -m bench --only durability`` switches PostgreSQL between its modes during the
    run: it must measure both, and leave the stack durable."""
    command = [sys.executable, "-m", "bench", "--scale", "smoke", "--only", "durability"]
    done = subprocess.run(
        [*command, "--out", str(tmp_path), "--databases", "bench_durability"],
        cwd=ROOT,
        env={**os.environ, **scratch_stack.env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    measured = json.loads((tmp_path / "latest.json").read_text())["measurements"]["durability"]
    for mode in ("durable", "unsafe-for-benchmarks"):
        figures = measured["by_mode"][mode]
        assert figures["path_commands_per_s"][0] > 0, mode
        assert figures["import_cases_per_s"][0] > 0, mode
    assert measured["path_ratio"] > 0
    assert measured["import_ratio"] > 0
    assert scratch_stack.durability() == DURABLE
