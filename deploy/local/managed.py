"""The processes ``services.py`` keeps running: each one's pid file and log, whether it
serves, and bringing back one that does not (:func:`bring_back`); the environment of a
service's process (:func:`service_env`).

A process is named by its label: its pid file is ``.local/run/<label>.pid``, its log
``.local/logs/<label>.log``.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

from deploy.local import keycloak_realm
from deploy.local.launcher import LOCAL_DIR, alive, group_members, stop_process_group
from deploy.local.serving import Polled

LOGS = LOCAL_DIR / "logs"
RUN = LOCAL_DIR / "run"

START_TIMEOUT_S = 90.0
STARTING_GRACE_S = 30.0
"""How long a live process that does not answer yet is given (it may be starting, from
another ``up``) before it counts as not serving."""


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


def service_env(
    name: str, role: str | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """What one process of a service needs besides the environment, read when it starts (the
    identity provider is asked only then): its role, ``extra`` (e.g. the pooler's port), and
    for the notifications service the settings of its staff directory's synchronisation with
    the local Keycloak."""
    env = keycloak_realm.directory_sync_env() if name == "notifications" else {}
    env |= dict(extra or {})
    return {**env, "OUTREACH_PROCESS_ROLE": role} if role else env


# --- pid files --------------------------------------------------------------------------------


def pid_file(label: str) -> Path:
    return RUN / f"{label}.pid"


def recorded_pid(label: str) -> int | None:
    try:
        return int(pid_file(label).read_text())
    except (FileNotFoundError, ValueError):
        return None


def running_pid(label: str) -> int | None:
    pid = recorded_pid(label)
    return pid if pid is not None and alive(pid) else None


def labels_like(prefix: str) -> list[str]:
    """The labels of the pid files named ``<prefix>-…`` (a service's replicas and worker)."""
    return sorted(path.stem for path in RUN.glob(f"{prefix}-*.pid"))


def stop(label: str) -> None:
    """Stop the process group of ``label``'s pid file (if any) and remove the file."""
    pid = recorded_pid(label)
    if pid is not None:
        stop_process_group(pid)
    pid_file(label).unlink(missing_ok=True)


# --- serving ----------------------------------------------------------------------------------


def answers(port: int, path: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def smtp_answers(port: int, timeout_s: float = 2.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as conn:
            return conn.recv(3) == b"220"
    except OSError:
        return False


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
    pid = recorded_pid(managed.label)
    if pid is None:
        return
    members = [member for member in group_members(pid) if _ours(member, managed.marker)]
    if members:
        print(f"{managed.label:14} not serving; stopping what is left of it ({len(members)})")
        stop_process_group(pid)
    pid_file(managed.label).unlink(missing_ok=True)


class _Running:
    """A process this launcher did not start itself, seen through ``Popen.poll``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not alive(self.pid):
            self.returncode = -1
        return self.returncode


def bring_back(managed: Managed) -> bool:
    """Start ``managed`` unless it serves; ``True`` if it was (re)started."""
    pid = running_pid(managed.label)
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
    RUN.mkdir(parents=True, exist_ok=True)
    process = managed.start()
    pid_file(managed.label).write_text(str(process.pid))
    try:
        managed.ready(process, START_TIMEOUT_S)
    except (RuntimeError, TimeoutError) as error:
        raise RuntimeError(f"{error}; see {LOGS / (managed.label + '.log')}") from None
    print(f"{managed.label:14} started (pid {process.pid})")
    return True
