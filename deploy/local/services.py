"""Start, stop and check the Outreach services as local processes.

    python deploy/local/services.py up|down|status [--replicas N | --api-workers N]
                                    [--only SERVICE] [--port-offset N]

Every service that exists under services/<name>/<name>/main.py is started with uvicorn on
its port from shared.settings.SERVICE_PORTS, logs to .local/logs/<name>.log, and is
considered up when its /readyz answers 200. The staff web app (web/, ``outreach_web``) is
started after them on port 8100 (``OUTREACH_WEB_PORT``), logging to .local/logs/web.log; it
belongs to the whole system, so ``--only`` leaves it out.

With ``--replicas N`` (or ``OUTREACH_REPLICAS``) above 1, each service runs as N processes of
role ``all``, each serving the whole API and competing for the work that runs once
(deploy/README.md, "Replicas"). Replica 1 keeps the service's port, pid file and log; replica
k serves on :func:`replica_port` (the service's port + 10 * (k - 1): contacts on
8101, 8111, 8121 …) and has ``<name>-<k>.pid`` and ``<name>-<k>.log``. Their connection pools
go through PgBouncer (``pgbouncer.py``, started here: PostgreSQL's port + 1 unless
``OUTREACH_PG_POOLER_PORT`` says otherwise).

With ``--api-workers N`` (or ``OUTREACH_API_WORKERS``) above 1, each service runs as two
process groups: N server processes of role ``api`` (HTTP API and commands; uvicorn's
supervisor, started by ``shared.runtime.serve``) on the service's port, and one process of role
``worker`` (relays, projections, consumers, background work; health, readiness and /ops only)
on its port from shared.settings.WORKER_PORTS, logging to .local/logs/<name>-worker.log. The
default, 1, is one process of role ``all`` per service.

The notifications service reads the staff directory from the local Keycloak (the realm
file's ``outreach-directory`` client, ``keycloak_realm.directory_sync_env``), as a deployment
does from its identity provider.

``up`` looks at every process it manages (each replica; in the split layout a service's
``api`` supervisor and its ``worker``; the mail sink) and brings back each one that is not
serving: its pid file names no live process, or the process does not answer on its port.
What is left of a dead process's group is stopped first; then the process is started and
waited for until ready, before the next one. Processes that serve are left alone. To change
the layout of a running system, ``down`` first (``down`` stops every replica and worker a pid
file names, whatever layout started them).

``--port-offset N`` (or ``OUTREACH_PORT_OFFSET``) moves every service, replica, worker and web
port by N, and ``OUTREACH_STACK_DIR`` (as for ``stack.py``) moves the pid files and logs: a
second system beside the one ``make up`` runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deploy.local.launcher import LOCAL_DIR  # noqa: E402
from deploy.local.managed import (  # noqa: E402
    LOGS,
    Managed,
    answers,
    bring_back,
    labels_like,
    running_pid,
    service_env,
    smtp_answers,
    stop,
)
from deploy.local.pgbouncer import ensure_pgbouncer, pooler_env  # noqa: E402
from deploy.local.prometheus import remove_targets, write_targets  # noqa: E402
from deploy.local.serving import Polled, start_service, start_web, wait_ready  # noqa: E402
from shared.settings import SERVICE_PORTS, WORKER_PORTS, StackSettings  # noqa: E402

REPLICA_PORT_STEP = 10
MAX_REPLICAS = 10
DRAIN_SECONDS = 2


def replica_port(name: str, replica: int) -> int:
    """The port of replica ``replica`` (1, 2, …) of service ``name``: the service's port for
    the first, so everything that knows the service finds it there, then every tenth port
    above it (contacts: 8101, 8111, 8121 …), below the worker ports."""
    if not 1 <= replica <= MAX_REPLICAS:
        raise ValueError(f"replica {replica}: 1 to {MAX_REPLICAS}")
    return SERVICE_PORTS[name] + REPLICA_PORT_STEP * (replica - 1)


def existing_services() -> list[str]:
    return [n for n in SERVICE_PORTS if (ROOT / "services" / n / n / "main.py").exists()]


MAILSINK = "mailsink"
"""The local SMTP server (deploy/local/mailsink.py) the notifications service sends to."""

WEB = "web"
"""The staff web app's process (pid file and log name)."""


class Layout:
    """How each service runs: ``replicas`` processes of role ``all`` (through the pooler when
    more than one), or with ``api_workers`` > 1 the split layout; ports moved by ``offset``."""

    def __init__(self, replicas: int = 1, api_workers: int = 1, offset: int = 0) -> None:
        self.replicas = replicas
        self.api_workers = api_workers
        self.offset = offset
        self.extra_env: dict[str, str] = {}

    def replica(self, name: str, k: int) -> tuple[str, int]:
        """Label and port of replica ``k`` (the first keeps the service's own)."""
        return (name if k == 1 else f"{name}-{k}"), replica_port(name, k) + self.offset

    def processes(self, name: str) -> list[Managed]:
        if self.api_workers > 1:
            port, worker_port = SERVICE_PORTS[name] + self.offset, WORKER_PORTS[name] + self.offset
            return [
                _http(name, port, lambda: self._start(name, name, port, "api", self.api_workers)),
                _http(
                    _worker(name),
                    worker_port,
                    lambda: self._start(name, _worker(name), worker_port, "worker"),
                ),
            ]
        processes = []
        for k in range(1, self.replicas + 1):
            label, port = self.replica(name, k)
            processes.append(_http(label, port, self._starter(name, label, port)))
        return processes

    def _starter(self, name: str, label: str, port: int) -> Callable[[], subprocess.Popen[bytes]]:
        return lambda: self._start(name, label, port)

    def _start(
        self, name: str, label: str, port: int, role: str | None = None, workers: int = 1
    ) -> subprocess.Popen[bytes]:
        env = service_env(name, role, self.extra_env)
        return start_service(name, port, LOGS / f"{label}.log", env, workers)

    def scraped(self, name: str) -> list[tuple[str, int]]:
        """The (role, port) of each process of ``name`` that Prometheus scrapes: the api
        processes of one port answer together (their counters added up, shared.metrics)."""
        if self.api_workers > 1:
            return [
                ("api", SERVICE_PORTS[name] + self.offset),
                ("worker", WORKER_PORTS[name] + self.offset),
            ]
        return [("all", self.replica(name, k)[1]) for k in range(1, self.replicas + 1)]


def _http(label: str, port: int, start: Callable[[], subprocess.Popen[bytes]]) -> Managed:
    return Managed(
        label=label,
        port=port,
        start=start,
        serving=lambda: answers(port, "/healthz"),
        ready=lambda process, timeout_s: wait_ready(port, timeout_s, process),
        # Every process of the group has it, also the server processes that uvicorn's
        # supervisor spawns (their command line names only multiprocessing).
        marker=f"\0OUTREACH_HTTP_PORT={port}\0",
    )


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
        while not smtp_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the mail sink does not answer on port {port}")
            time.sleep(0.2)

    return Managed(MAILSINK, port, start, lambda: smtp_answers(port), ready, "mailsink.py")


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
        serving=lambda: answers(port, "/healthz"),
        ready=lambda process, timeout_s: wait_ready(port, timeout_s, process),
        marker=f"\0OUTREACH_WEB_PORT={port}\0",
    )


def _worker(name: str) -> str:
    """The pid file and log of a service's worker process (split layout)."""
    return f"{name}-worker"


def up(
    names: Sequence[str],
    layout: Layout | None = None,
    web: bool = False,
    extra_env: Mapping[str, str] | None = None,
) -> None:
    """Bring back every process of ``names`` (and with ``web`` the staff web app, after them)
    that is not serving, one at a time. Replicas connect their pools through PgBouncer
    (started if it is not running)."""
    layout = layout or Layout()
    layout.extra_env = dict(extra_env or {})
    if layout.replicas > 1 and "OUTREACH_PG_POOLER_PORT" not in layout.extra_env:
        settings = StackSettings()
        ensure_pgbouncer(settings)
        layout.extra_env |= pooler_env(settings)
    if layout.replicas > 1 and "OUTREACH_DRAIN_SECONDS" not in os.environ:
        # A replica stopped by ``down`` (or one at a time, a rolling restart) first answers
        # readiness with 503 for this long, so a client following readiness moves on.
        layout.extra_env["OUTREACH_DRAIN_SECONDS"] = str(DRAIN_SECONDS)
    managed = [_mailsink()] if "notifications" in names else []
    for name in names:
        managed += layout.processes(name)
    if web:
        managed.append(_web_app(layout.offset))
    for process in managed:
        try:
            bring_back(process)
        except RuntimeError as error:
            sys.exit(f"{process.label}: {error}")
    for name in names:
        write_targets(f"services-{name}", {name: layout.scraped(name)})
        print(f"{name:14} http://127.0.0.1:{SERVICE_PORTS[name] + layout.offset}/docs")
    if web:
        print(f"{'web app':14} http://127.0.0.1:{managed[-1].port}/  (staff sign-in: see below)")


def down(names: Sequence[str], web: bool = False) -> None:
    """Stop the web app (with ``web``), every process of ``names`` a pid file names (each
    replica, the worker of the split layout), and the mail sink with notifications."""
    sink = [MAILSINK] if "notifications" in names else []
    for name in names:
        remove_targets(f"services-{name}")
    labels = [*([WEB] if web else []), *names]
    labels += [label for name in names for label in labels_like(name)]
    for label in [*labels, *sink]:
        stop(label)


def status(names: Sequence[str], web: bool = False) -> int:
    code = 0
    for name in [*names, *([WEB] if web else [])]:
        others = labels_like(name) if name != WEB else []
        for label in [name, *others]:
            pid = running_pid(label)
            shown = label if label == name else "  " + label.removeprefix(f"{name}-")
            print(f"{shown:14} {'running (pid ' + str(pid) + ')' if pid else 'stopped'}")
            code |= pid is None
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    stack = StackSettings()
    parser.add_argument(
        "--replicas",
        type=int,
        default=int(os.environ.get("OUTREACH_REPLICAS") or 1),
        help="processes of role all per service (default: OUTREACH_REPLICAS or 1), each on "
        f"its own port, at most {MAX_REPLICAS}; above 1 through PgBouncer",
    )
    parser.add_argument(
        "--api-workers",
        type=int,
        default=stack.api_workers,
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
    if not 1 <= args.replicas <= MAX_REPLICAS:
        parser.error(f"--replicas must be 1 to {MAX_REPLICAS}")
    if args.replicas > 1 and args.api_workers > 1:
        parser.error("--replicas and --api-workers: one of them (replicas run every role)")
    names = args.only or existing_services()
    web = args.only is None
    if args.command == "up":
        up(names, Layout(args.replicas, args.api_workers, args.port_offset), web)
    elif args.command == "down":
        down(names, web)
    else:
        return status(names, web)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
