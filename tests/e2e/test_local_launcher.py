"""``deploy/local/services.py up`` brings back whatever process is not serving: run again after
a ``kill -9`` of a service (role ``all``), of the ``api`` supervisor or of the ``worker`` of a
service in the split layout, it starts that one again and leaves the others alone.

The processes the launcher starts outlive it. Here they are handed to the test process when
the launcher exits (it is made a child subreaper, as a supervisor or a container's init is),
and it does not reap them at once: a process killed with ``kill -9`` lingers as a zombie, as
it did when ``up`` used to take it for running. The launcher keeps its pid files and logs in
a directory of the test's own (``OUTREACH_STACK_DIR``) and moves the ports by an offset
(``--port-offset``), so a system started by ``make up`` is not touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.local.launcher import alive, ephemeral_ports, group_members
from shared.contracts import topic_of
from shared.settings import SERVICE_PORTS, WORKER_PORTS, ServiceSettings
from tests.support.helpers import scratch_database
from tests.support.processes import free_port, start_group_at_end

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PR_SET_CHILD_SUBREAPER = 36


class Launcher:
    """``services.py`` for the contacts service, on a database, ports and a state of its own."""

    def __init__(self, state: Path, database: str) -> None:
        self.state = state
        self.offset = _free_offset()
        self.env = {
            **os.environ,
            "OUTREACH_STACK_DIR": str(state),
            "OUTREACH_SERVICE_NAME": database,
        }
        self.port = SERVICE_PORTS["contacts"] + self.offset
        self.worker_port = WORKER_PORTS["contacts"] + self.offset

    def run(self, command: str, *options: str) -> str:
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "deploy/local/services.py"),
                command,
                "--only",
                "contacts",
                "--port-offset",
                str(self.offset),
                *options,
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"services.py {command}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def pid(self, name: str) -> int:
        return int((self.state / "run" / f"{name}.pid").read_text())


def _free_offset() -> int:
    """An offset that puts the service and its worker port on free ports (outside the
    ephemeral range, like every port ``free_port`` gives)."""
    for _ in range(50):
        offset = free_port() - SERVICE_PORTS["contacts"]
        worker = WORKER_PORTS["contacts"] + offset
        if worker not in ephemeral_ports() and _bindable(worker):
            return offset
    raise AssertionError("no free pair of ports")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _set_child_subreaper(on: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        pytest.skip(f"prctl(PR_SET_CHILD_SUBREAPER) failed: errno {ctypes.get_errno()}")


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


@pytest.fixture
def launcher(stack: ServiceSettings, tmp_path: Path) -> Iterator[Launcher]:
    with scratch_database(stack, "contacts_launcher") as database:
        start_group_at_end(stack, f"{database}-coaching-notes", topic_of("coaching"))
        _set_child_subreaper(True)
        started = Launcher(tmp_path / "state", database)
        try:
            yield started
        finally:
            subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "deploy/local/services.py"),
                    "down",
                    "--only",
                    "contacts",
                ],
                env=started.env,
                check=False,
            )
            _set_child_subreaper(False)
            _reap()


def serving(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200


def kill_9(pid: int) -> None:
    """SIGKILL that one process (not its group), and do not reap it."""
    os.kill(pid, signal.SIGKILL)


def test_up_brings_back_a_killed_service_and_leaves_a_serving_one_alone(
    launcher: Launcher,
) -> None:
    launcher.run("up")
    first = launcher.pid("contacts")

    kill_9(first)
    launcher.run("up")

    restarted = launcher.pid("contacts")
    assert restarted != first
    assert alive(restarted)
    assert serving(launcher.port)

    launcher.run("up")

    assert launcher.pid("contacts") == restarted


def test_up_brings_back_a_killed_api_supervisor_or_worker_of_the_split_layout(
    launcher: Launcher,
) -> None:
    launcher.run("up", "--api-workers", "2")
    supervisor, worker = launcher.pid("contacts"), launcher.pid("contacts-worker")
    servers = set(group_members(supervisor)) - {supervisor}
    assert len(servers) >= 2  # its two server processes (and multiprocessing's helper)

    kill_9(supervisor)  # its server processes go on holding the port, unsupervised
    launcher.run("up", "--api-workers", "2")

    supervisor_again = launcher.pid("contacts")
    assert supervisor_again != supervisor
    assert not any(alive(pid) for pid in servers), "the old server processes stopped"
    assert len(group_members(supervisor_again)) == len(servers) + 1
    assert serving(launcher.port)
    assert launcher.pid("contacts-worker") == worker, "the worker was left alone"

    kill_9(worker)
    launcher.run("up", "--api-workers", "2")

    assert launcher.pid("contacts-worker") != worker
    assert serving(launcher.worker_port)
    assert launcher.pid("contacts") == supervisor_again, "the api processes were left alone"
    assert serving(launcher.port)
