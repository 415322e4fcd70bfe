"""Start, stop and check the Outreach services as local processes.

    python deploy/local/services.py up|down|status

Every service that exists under services/<name>/<name>/main.py is started with uvicorn on
its port from shared.settings.SERVICE_PORTS, logs to .local/logs/<name>.log, and is
considered up when its /readyz answers 200.
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

from shared.settings import SERVICE_PORTS  # noqa: E402

LOCAL = ROOT / ".local"
LOGS = LOCAL / "logs"
RUN = LOCAL / "run"


def existing_services() -> list[str]:
    return [n for n in SERVICE_PORTS if (ROOT / "services" / n / n / "main.py").exists()]


def service_command(name: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        f"{name}.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]


def start_service(
    name: str, port: int, log_path: Path, extra_env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start one service process in its own process group, output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OUTREACH_HTTP_PORT": str(port), **(extra_env or {})}
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            service_command(name, port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


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


def up(names: Sequence[str]) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    if "notifications" in names:
        start_mailsink()
    started = []
    for name in names:
        if _running_pid(name) is not None:
            continue
        process = start_service(name, SERVICE_PORTS[name], LOGS / f"{name}.log")
        _pid_file(name).write_text(str(process.pid))
        started.append((name, process))
    for name, process in started:
        try:
            wait_ready(SERVICE_PORTS[name], process=process)
        except (RuntimeError, TimeoutError) as error:
            sys.exit(f"{name}: {error}; see {LOGS / (name + '.log')}")
    for name in names:
        print(f"{name:14} http://127.0.0.1:{SERVICE_PORTS[name]}/docs")


def stop_process_group(pid: int, timeout_s: float = 15.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def down(names: Sequence[str]) -> None:
    for name in [*names, MAILSINK]:
        pid = _running_pid(name)
        if pid is not None:
            stop_process_group(pid)
        _pid_file(name).unlink(missing_ok=True)


def status(names: Sequence[str]) -> int:
    code = 0
    for name in names:
        pid = _running_pid(name)
        print(f"{name:14} {'running (pid ' + str(pid) + ')' if pid else 'stopped'}")
        code |= pid is None
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    names = existing_services()
    if args.command == "up":
        up(names)
    elif args.command == "down":
        down(names)
    else:
        return status(names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
