"""Start, stop and check the Outreach services as local processes.

    python deploy/local/services.py up|down|status [--api-workers N]

Every service that exists under services/<name>/<name>/main.py is started with uvicorn on
its port from shared.settings.SERVICE_PORTS, logs to .local/logs/<name>.log, and is
considered up when its /readyz answers 200. The staff web app (web/, ``outreach_web``) is
started after them on port 8100 (``OUTREACH_WEB_PORT``), logging to .local/logs/web.log.

With ``--api-workers N`` (or ``OUTREACH_API_WORKERS``) above 1, each service runs as two
process groups: N server processes of role ``api`` (HTTP API and commands; uvicorn's
supervisor, started by ``shared.serve``) on the service's port, and one process of role
``worker`` (relays, projections, consumers, background work; health, readiness and /ops only)
on its port from shared.settings.WORKER_PORTS, logging to .local/logs/<name>-worker.log. The
default, 1, is one process of role ``all`` per service.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.settings import SERVICE_PORTS, WORKER_PORTS, StackSettings  # noqa: E402

LOCAL = ROOT / ".local"
LOGS = LOCAL / "logs"
RUN = LOCAL / "run"


WEB = "web"
"""The staff web app's process (pid file and log name)."""


def web_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "outreach_web.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip


def start_web(
    port: int, log_path: Path, extra_env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """The web app in its own process group, talking to the services of ``extra_env``'s
    ``OUTREACH_WEB_*_URL`` (default: the services' ports of shared.settings)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OUTREACH_WEB_PORT": str(port), **(extra_env or {})}
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            web_command(port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def web_port() -> int:
    return int(os.environ.get("OUTREACH_WEB_PORT", "8100"))


def existing_services() -> list[str]:
    return [n for n in SERVICE_PORTS if (ROOT / "services" / n / n / "main.py").exists()]


def service_command(name: str, port: int, workers: int = 1) -> list[str]:
    """uvicorn, or with ``workers`` > 1 its supervisor and that many server processes on one
    port (``shared.serve``: uvicorn's, with ``TCP_NODELAY`` on every connection)."""
    app = f"{name}.main:create_app"
    if workers > 1:
        serve = [sys.executable, "-m", "shared.serve", app, "--host", "127.0.0.1"]
        return [*serve, "--port", str(port), "--workers", str(workers)]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]


def start_service(
    name: str,
    port: int,
    log_path: Path,
    extra_env: Mapping[str, str] | None = None,
    workers: int = 1,
) -> subprocess.Popen[bytes]:
    """Start one service process (``workers`` > 1: uvicorn's supervisor and that many server
    processes) in its own process group, output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OUTREACH_HTTP_PORT": str(port), **(extra_env or {})}
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            service_command(name, port, workers),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_split(
    name: str,
    port: int,
    worker_port: int,
    logs: Path,
    api_workers: int,
    extra_env: Mapping[str, str] | None = None,
    log_name: str | None = None,
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """Start a service as ``api_workers`` processes of role ``api`` on ``port`` and one of
    role ``worker`` on ``worker_port``: two process groups, logging to ``<log_name>.log``
    and ``<log_name>-worker.log``. They may start in any order (the schema is created under
    an advisory lock, the worker's relay and projections catch up with what was stored)."""
    stem = log_name or name
    api = start_service(
        name,
        port,
        logs / f"{stem}.log",
        {**(extra_env or {}), "OUTREACH_PROCESS_ROLE": "api"},
        workers=api_workers,
    )
    worker = start_service(
        name,
        worker_port,
        logs / f"{stem}-worker.log",
        {**(extra_env or {}), "OUTREACH_PROCESS_ROLE": "worker"},
    )
    return api, worker


def wait_ready(
    port: int, timeout_s: float = 90.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    url = f"http://127.0.0.1:{port}/readyz"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"service on port {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"service on port {port} not ready after {timeout_s:.0f}s")


def _pid_file(name: str) -> Path:
    return RUN / f"{name}.pid"


def _running_pid(name: str) -> int | None:
    try:
        pid = int(_pid_file(name).read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


MAILSINK = "mailsink"
"""The local SMTP server (deploy/local/mailsink.py) the notifications service sends to."""


def start_mailsink() -> None:
    """Start the mail sink (once); received mail is stored under .local/mail."""
    if _running_pid(MAILSINK) is not None:
        return
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / "mailsink.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "deploy/local/mailsink.py")],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _pid_file(MAILSINK).write_text(str(process.pid))


def _worker(name: str) -> str:
    """The pid file and log of a service's worker process (split layout)."""
    return f"{name}-worker"


def up(names: Sequence[str], api_workers: int = 1) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    if "notifications" in names:
        start_mailsink()
    started: list[tuple[str, int, subprocess.Popen[bytes]]] = []
    for name in names:
        if _running_pid(name) is not None:
            continue
        if api_workers > 1:
            api, worker = start_split(
                name, SERVICE_PORTS[name], WORKER_PORTS[name], LOGS, api_workers
            )
            _pid_file(name).write_text(str(api.pid))
            _pid_file(_worker(name)).write_text(str(worker.pid))
            started += [
                (name, SERVICE_PORTS[name], api),
                (_worker(name), WORKER_PORTS[name], worker),
            ]
        else:
            process = start_service(name, SERVICE_PORTS[name], LOGS / f"{name}.log")
            _pid_file(name).write_text(str(process.pid))
            started.append((name, SERVICE_PORTS[name], process))
    if _running_pid(WEB) is None:
        process = start_web(web_port(), LOGS / f"{WEB}.log")
        _pid_file(WEB).write_text(str(process.pid))
        started.append((WEB, web_port(), process))
    for label, port, process in started:
        try:
            wait_ready(port, process=process)
        except (RuntimeError, TimeoutError) as error:
            sys.exit(f"{label}: {error}; see {LOGS / (label + '.log')}")
    for name in names:
        print(f"{name:14} http://127.0.0.1:{SERVICE_PORTS[name]}/docs")
    print(f"{'web app':14} http://127.0.0.1:{web_port()}/  (staff sign in, see below)")


def _group_alive(pid: int) -> bool:
    """Whether any process of the group led by ``pid`` is still alive (the leader is reaped
    here if it is a child of this process, so it does not linger as a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process_group(pid: int, timeout_s: float = 15.0) -> None:
    """SIGTERM the process group (uvicorn's supervisor and its server processes alike),
    wait until all of it is gone, SIGKILL what is left after ``timeout_s``."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def down(names: Sequence[str]) -> None:
    for name in [WEB, *names, *(_worker(n) for n in names), MAILSINK]:
        pid = _running_pid(name)
        if pid is not None:
            stop_process_group(pid)
        _pid_file(name).unlink(missing_ok=True)


def status(names: Sequence[str]) -> int:
    code = 0
    for name in [*names, WEB]:
        pid = _running_pid(name)
        print(f"{name:14} {'running (pid ' + str(pid) + ')' if pid else 'stopped'}")
        code |= pid is None
        if _pid_file(_worker(name)).exists():  # split layout: its worker process, too
            worker = _running_pid(_worker(name))
            print(f"{'  worker':14} {'running (pid ' + str(worker) + ')' if worker else 'stopped'}")
            code |= worker is None
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument(
        "--api-workers",
        type=int,
        default=StackSettings().api_workers,
        help="processes serving each service's HTTP API (default: OUTREACH_API_WORKERS or 1); "
        "above 1, a worker process per service runs the relays, projections and consumers",
    )
    args = parser.parse_args(argv)
    if args.api_workers < 1:
        parser.error("--api-workers must be at least 1")
    names = existing_services()
    if args.command == "up":
        up(names, args.api_workers)
    elif args.command == "down":
        down(names)
    else:
        return status(names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
