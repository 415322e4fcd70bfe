"""One service as processes: the command that serves it, starting it (one process group, or
the split layout of api processes and a worker), and waiting until it is ready; the staff web
app the same way. Used by ``services.py``, the benchmarks and the end-to-end tests alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from deploy.local.launcher import REPO_ROOT


def service_command(name: str, port: int, workers: int = 1, app: str | None = None) -> list[str]:
    """uvicorn, or with ``workers`` > 1 its supervisor and that many server processes on one
    port (``shared.runtime.serve``: uvicorn's, with ``TCP_NODELAY`` on every connection). ``app`` is
    the app factory (default: the service's own, ``<name>.main:create_app``)."""
    app = app or f"{name}.main:create_app"
    if workers > 1:
        serve = [sys.executable, "-m", "shared.runtime.serve", app, "--host", "127.0.0.1"]
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
    app: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start one service process (``workers`` > 1: uvicorn's supervisor and that many server
    processes) in its own process group, output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OUTREACH_HTTP_PORT": str(port), **(extra_env or {})}
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            service_command(name, port, workers, app),
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


WEB_APP = "outreach_web.app:create_app"
"""The staff web app's factory (``web/outreach_web``)."""


def start_web(
    port: int, log_path: Path, extra_env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """The staff web app in its own process group on ``port``, talking to the services of
    ``extra_env``'s ``OUTREACH_WEB_<SERVICE>_URL`` (default: the ports of shared.settings)."""
    env = {"OUTREACH_WEB_PORT": str(port), **(extra_env or {})}
    return start_service("web", port, log_path, env, app=WEB_APP)


def start_split(
    name: str,
    port: int,
    worker_port: int,
    logs: Path,
    api_workers: int,
    extra_env: Mapping[str, str] | None = None,
    log_name: str | None = None,
    app: str | None = None,
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
        app=app,
    )
    worker = start_service(
        name,
        worker_port,
        logs / f"{stem}-worker.log",
        {**(extra_env or {}), "OUTREACH_PROCESS_ROLE": "worker"},
        app=app,
    )
    return api, worker


class Polled(Protocol):
    """A process that can be asked whether it exited (``subprocess.Popen``, or one found
    running that this process did not start)."""

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...


def wait_ready(port: int, timeout_s: float = 90.0, process: Polled | None = None) -> None:
    """Until the service on ``port`` answers ``/readyz`` with 200 (raises if ``process``
    exits first, or after ``timeout_s``)."""
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
