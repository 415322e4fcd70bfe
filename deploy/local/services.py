"""Start, stop and check the Outreach services as local processes.

    python deploy/local/services.py up|down|status [--api-workers N]
                                    [--only SERVICE] [--port-offset N]

Every service that exists under services/<name>/<name>/main.py is started with uvicorn on
its port from shared.settings.SERVICE_PORTS, logs to .local/logs/<name>.log, and is
considered up when its /readyz answers 200. The staff web app (web/, ``outreach_web``) is
started after them on port 8100 (``OUTREACH_WEB_PORT``), logging to .local/logs/web.log; it
belongs to the whole system, so ``--only`` leaves it out.

With ``--api-workers N`` (or ``OUTREACH_API_WORKERS``) above 1, each service runs as two
process groups: N server processes of role ``api`` (HTTP API and commands; uvicorn's
supervisor, started by ``shared.runtime.serve``) on the service's port, and one process of role
``worker`` (relays, projections, consumers, background work; health, readiness and /ops only)
on its port from shared.settings.WORKER_PORTS, logging to .local/logs/<name>-worker.log. The
default, 1, is one process of role ``all`` per service.

The notifications service reads the staff directory from the local Keycloak (the realm
file's ``outreach-directory`` client, ``keycloak_realm.directory_sync_env``), as a deployment
does from its identity provider.

``up`` looks at every process it manages (a service of role ``all``; in the split layout a
service's ``api`` supervisor and its ``worker``; the mail sink) and brings back each one that
is not serving: its pid file names no live process, or the process does not answer on its
port. What is left of a dead process's group (the server processes of a killed ``api``
supervisor still holding the port) is stopped first; then the process is started and waited
for until ready, before the next one. Processes that serve are left alone. To change the
layout of a running system, ``down`` first.

``--port-offset N`` (or ``OUTREACH_PORT_OFFSET``) moves every service, worker and web port by N,
and ``OUTREACH_STACK_DIR`` (as for ``stack.py``) moves the pid files and logs: a second
system beside the one ``make up`` runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deploy.local import keycloak_realm  # noqa: E402
from deploy.local.launcher import (  # noqa: E402
    LOCAL_DIR,
    alive,
    group_members,
    stop_process_group,
)
from deploy.local.prometheus import remove_targets, write_targets  # noqa: E402
from deploy.local.serving import Polled, start_service, start_web, wait_ready  # noqa: E402
from shared.settings import SERVICE_PORTS, WORKER_PORTS, StackSettings  # noqa: E402

LOGS = LOCAL_DIR / "logs"
RUN = LOCAL_DIR / "run"


def existing_services() -> list[str]:
    return [n for n in SERVICE_PORTS if (ROOT / "services" / n / n / "main.py").exists()]


def _pid_file(name: str) -> Path:
    return RUN / f"{name}.pid"


def _recorded_pid(name: str) -> int | None:
    try:
        return int(_pid_file(name).read_text())
    except (FileNotFoundError, ValueError):
        return None


def _running_pid(name: str) -> int | None:
    pid = _recorded_pid(name)
    return pid if pid is not None and alive(pid) else None


def _answers(port: int, path: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _smtp_answers(port: int, timeout_s: float = 2.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as conn:
            return conn.recv(3) == b"220"
    except OSError:
        return False


MAILSINK = "mailsink"
"""The local SMTP server (deploy/local/mailsink.py) the notifications service sends to."""

START_TIMEOUT_S = 90.0
STARTING_GRACE_S = 30.0
"""How long a live process that does not answer yet is given (it may be starting, from
another ``up``) before it counts as not serving."""


WEB = "web"
"""The staff web app's process (pid file and log name)."""


class Managed(NamedTuple):
    """One process group ``up`` keeps running, with its pid file and log named ``label``."""

    label: str
    port: int
    start: Callable[[], subprocess.Popen[bytes]]
    serving: Callable[[], bool]
    ready: Callable[[Polled, float], None]
    marker: str
    """Part of the command line or the environment of each of its processes (so a pid file
    that outlived its process, its pid taken by another, never gets that other stopped)."""


def _env(name: str, role: str | None = None) -> dict[str, str]:
    """What one process of a service needs besides the environment, read when it starts (the
    identity provider is asked only then): its role, and for the notifications service the
    settings of its staff directory's synchronisation with the local Keycloak."""
    env = keycloak_realm.directory_sync_env() if name == "notifications" else {}
    return {**env, "OUTREACH_PROCESS_ROLE": role} if role else env


def _service_processes(name: str, api_workers: int, offset: int) -> list[Managed]:
    port, worker_port = SERVICE_PORTS[name] + offset, WORKER_PORTS[name] + offset

    def http(
        label: str, process_port: int, start: Callable[[], subprocess.Popen[bytes]]
    ) -> Managed:
        return Managed(
            label=label,
            port=process_port,
            start=start,
            serving=lambda: _answers(process_port, "/healthz"),
            ready=lambda process, timeout_s: wait_ready(process_port, timeout_s, process),
            # Every process of the group has it, also the server processes that uvicorn's
            # supervisor spawns (their command line names only multiprocessing).
            marker=f"\0OUTREACH_HTTP_PORT={process_port}\0",
        )

    if api_workers == 1:
        return [
            http(name, port, lambda: start_service(name, port, LOGS / f"{name}.log", _env(name)))
        ]
    return [
        http(
            name,
            port,
            lambda: start_service(name, port, LOGS / f"{name}.log", _env(name, "api"), api_workers),
        ),
        http(
            _worker(name),
            worker_port,
            lambda: start_service(
                name, worker_port, LOGS / f"{_worker(name)}.log", _env(name, "worker")
            ),
        ),
    ]


def _mailsink() -> Managed:
    from notifications.settings import NotificationsSettings

    port = NotificationsSettings().smtp_port

    def start() -> subprocess.Popen[bytes]:
        LOGS.mkdir(parents=True, exist_ok=True)
        with open(LOGS / "mailsink.log", "ab") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "deploy/local/mailsink.py"),
                    *("--port", str(port), "--dir", str(LOCAL_DIR / "mail")),
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def ready(process: Polled, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not _smtp_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the mail sink does not answer on port {port}")
            time.sleep(0.2)

    return Managed(MAILSINK, port, start, lambda: _smtp_answers(port), ready, "mailsink.py")


def _web_app(offset: int) -> Managed:
    from outreach_web.settings import WebSettings

    port = WebSettings().web_port + offset
    urls = {
        f"OUTREACH_WEB_{n.upper()}_URL": f"http://127.0.0.1:{p + offset}"
        for n, p in SERVICE_PORTS.items()
    }
    return Managed(
        label=WEB,
        port=port,
        start=lambda: start_web(port, LOGS / f"{WEB}.log", urls),
        serving=lambda: _answers(port, "/healthz"),
        ready=lambda process, timeout_s: wait_ready(port, timeout_s, process),
        marker=f"\0OUTREACH_WEB_PORT={port}\0",
    )


def _ours(pid: int, marker: str) -> bool:
    """Whether ``marker`` is in the command line or the environment of ``pid``."""
    try:
        proc = Path(f"/proc/{pid}")
        return marker.encode() in proc.joinpath("cmdline").read_bytes() + b"\0" + (
            proc.joinpath("environ").read_bytes()
        )
    except OSError:
        return False


def _clear_remains(managed: Managed) -> None:
    """Stop what is left of the process group of ``managed``'s pid file (its leader dead or
    not serving), so the port is free for a new one."""
    pid = _recorded_pid(managed.label)
    if pid is None:
        return
    members = [member for member in group_members(pid) if _ours(member, managed.marker)]
    if members:
        print(f"{managed.label:14} not serving; stopping what is left of it ({len(members)})")
        stop_process_group(pid)
    _pid_file(managed.label).unlink(missing_ok=True)


def _bring_back(managed: Managed) -> bool:
    """Start ``managed`` unless it serves; ``True`` if it was (re)started."""
    pid = _running_pid(managed.label)
    if pid is not None and _ours(pid, managed.marker):
        if managed.serving():
            return False
        # Running but not answering: maybe still starting (a concurrent ``up``).
        with contextlib.suppress(RuntimeError, TimeoutError):
            managed.ready(_Running(pid), STARTING_GRACE_S)
            return False
    _clear_remains(managed)
    if managed.serving():
        raise RuntimeError(f"port {managed.port} is taken by a process this launcher did not start")
    process = managed.start()
    _pid_file(managed.label).write_text(str(process.pid))
    try:
        managed.ready(process, START_TIMEOUT_S)
    except (RuntimeError, TimeoutError) as error:
        raise RuntimeError(f"{error}; see {LOGS / (managed.label + '.log')}") from None
    print(f"{managed.label:14} started (pid {process.pid})")
    return True


class _Running:
    """A process this launcher did not start itself, seen through ``Popen.poll``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not alive(self.pid):
            self.returncode = -1
        return self.returncode


def _worker(name: str) -> str:
    """The pid file and log of a service's worker process (split layout)."""
    return f"{name}-worker"


def up(names: Sequence[str], api_workers: int = 1, port_offset: int = 0, web: bool = False) -> None:
    """Bring back every process of ``names`` (and with ``web`` the staff web app, after them)
    that is not serving, one at a time."""
    RUN.mkdir(parents=True, exist_ok=True)
    managed = [_mailsink()] if "notifications" in names else []
    for name in names:
        managed += _service_processes(name, api_workers, port_offset)
    if web:
        managed.append(_web_app(port_offset))
    for process in managed:
        try:
            _bring_back(process)
        except RuntimeError as error:
            sys.exit(f"{process.label}: {error}")
    for name in names:
        write_targets(f"services-{name}", {name: _scraped(name, api_workers, port_offset)})
        print(f"{name:14} http://127.0.0.1:{SERVICE_PORTS[name] + port_offset}/docs")
    if web:
        print(f"{'web app':14} http://127.0.0.1:{managed[-1].port}/  (staff sign-in: see below)")


def _scraped(name: str, api_workers: int, offset: int) -> list[tuple[str, int]]:
    """The (role, port) of each process of ``name`` that Prometheus scrapes: the api
    processes of one port answer together (their counters added up, shared.metrics)."""
    if api_workers == 1:
        return [("all", SERVICE_PORTS[name] + offset)]
    return [("api", SERVICE_PORTS[name] + offset), ("worker", WORKER_PORTS[name] + offset)]


def down(names: Sequence[str], web: bool = False) -> None:
    sink = [MAILSINK] if "notifications" in names else []
    for name in names:
        remove_targets(f"services-{name}")
    for name in [*([WEB] if web else []), *names, *(_worker(n) for n in names), *sink]:
        pid = _recorded_pid(name)
        if pid is not None:
            stop_process_group(pid)
        _pid_file(name).unlink(missing_ok=True)


def status(names: Sequence[str], web: bool = False) -> int:
    code = 0
    for name in [*names, *([WEB] if web else [])]:
        pid = _running_pid(name)
        print(f"{name:14} {'running (pid ' + str(pid) + ')' if pid else 'stopped'}")
        code |= pid is None
        if _pid_file(_worker(name)).exists():  # split layout: its worker process, too
            worker = _running_pid(_worker(name))
            print(f"{'  worker':14} {'running (pid ' + str(worker) + ')' if worker else 'stopped'}")
            code |= worker is None
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument(
        "--api-workers",
        type=int,
        default=StackSettings().api_workers,
        help="processes serving each service's HTTP API (default: OUTREACH_API_WORKERS or 1); "
        "above 1, a worker process per service runs the relays, projections and consumers",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=existing_services(),
        metavar="SERVICE",
        help="this service only (repeatable; default: every service and the staff web app)",
    )
    parser.add_argument(
        "--port-offset",
        type=int,
        default=int(os.environ.get("OUTREACH_PORT_OFFSET") or 0),
        help="added to every service, worker and web port (default: OUTREACH_PORT_OFFSET or 0)",
    )
    args = parser.parse_args(argv)
    if args.api_workers < 1:
        parser.error("--api-workers must be at least 1")
    names = args.only or existing_services()
    web = args.only is None
    if args.command == "up":
        up(names, args.api_workers, args.port_offset, web)
    elif args.command == "down":
        down(names, web)
    else:
        return status(names, web)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
