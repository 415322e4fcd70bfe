"""What every launcher of the local system uses (``stack.py`` with ``postgres.py``,
``kafka_broker.py`` and ``keycloak.py``; ``services.py``): where the state lives, errors that
name their logs, running a tool, Maven, locks, and processes and ports.

State (data, logs, jars, pid files) lives in the git-ignored ``.local/`` at the repository
root, or in ``$OUTREACH_STACK_DIR`` if set (a second, independent stack then also needs other
ports).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from shared.settings import EPHEMERAL_PORTS

log = logging.getLogger("outreach.stack")

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_DIR = Path(os.environ.get("OUTREACH_STACK_DIR") or REPO_ROOT / ".local").resolve()
LOG_TAIL_LINES = 40

FREE_PORTS = range(10000, 20000)
"""Where :func:`free_port` looks: below the kernel's ephemeral range (where it picks the
local ports of outgoing connections, see ``shared.settings.EPHEMERAL_PORTS``) and apart from
the default ports of the stack (2xxxx) and the services (81xx, 82xx)."""


class StackError(RuntimeError):
    """A step of a launcher failed; ``log_files`` are worth reading (their tails get printed)."""

    def __init__(self, message: str, *log_files: Path) -> None:
        super().__init__(message)
        self.log_files = log_files


# --- logs and tools ---------------------------------------------------------------------------


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' if it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def log_errors(path: Path, since: int, limit: int = 8) -> str:
    """ERROR/FATAL lines and exception causes written to a log after byte offset ``since``."""
    try:
        with path.open("rb") as fh:
            fh.seek(since)
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    found: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if (" ERROR " in line or " FATAL " in line or line.startswith("Caused by:")) and (
            line not in found
        ):
            found.append(line)
    return "\n".join(found[-limit:])


def run_tool(
    cmd: Sequence[str | Path], what: str, *log_files: Path, cwd: Path | None = None
) -> str:
    """Run a command to completion; on failure raise StackError with its output."""
    args = [str(part) for part in cmd]
    try:
        done = subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        raise StackError(f"{what}: cannot run {args[0]}: {exc}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise StackError(
            f"{what} failed (exit code {done.returncode}): {' '.join(args)}\n{output}", *log_files
        )
    return done.stdout


def digest(*paths: Path) -> str:
    """SHA-256 of the files' contents, one after the other."""
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.read_bytes())
    return sha.hexdigest()


def maven_copy(pom: Path, output: Path, log: Path, expected: str, *options: str) -> None:
    """Resolve the dependencies of ``pom`` into ``output`` (``dependency:copy-dependencies``);
    a file matching ``expected`` must be among them."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(f"mvn not found: Maven resolves the dependencies of {pom}")
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={output}", *options,
    ]  # fmt: skip
    with log.open("w") as out:
        done = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
        )
    if done.returncode != 0 or not any(output.glob(expected)):
        raise StackError(
            f"Maven could not resolve {expected} (exit code {done.returncode}): {' '.join(cmd)}",
            log,
        )


class FileLock:
    """An exclusive lock on a file, reentrant within the process (serialises concurrent
    ``up``/``down`` of one checkout's stack)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._depth = 0
        self._fh: IO[str] | None = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if self._depth == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a")
            fcntl.flock(self._fh, fcntl.LOCK_EX)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._fh is not None:
                fcntl.flock(self._fh, fcntl.LOCK_UN)
                self._fh.close()
                self._fh = None


stack_lock = FileLock(LOCAL_DIR / "stack.lock")
"""Held by every step that starts or stops PostgreSQL, Kafka or the whole stack."""


# --- processes ----------------------------------------------------------------------------


def is_root() -> bool:
    return os.geteuid() == 0


def proc_state(pid: int) -> tuple[str, int] | None:
    """State and process group of ``pid`` (``None`` if there is no such process)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[2])


def alive(pid: int) -> bool:
    """Whether ``pid`` runs: a killed process that is not reaped yet (a zombie) does not."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reaped here if it is a child of this process
    state = proc_state(pid)
    return state is not None and state[0] not in ("Z", "X")


def cmdline(pid: int) -> bytes:
    """The command line of ``pid`` (NUL-separated; empty if there is no such process)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def group_members(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            state = proc_state(int(entry.name))
            if state is not None and state[1] == pgid and state[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def terminate(pid: int, timeout_s: float, what: str, group: bool = False) -> None:
    """SIGTERM ``pid`` (with ``group``: its process group), SIGKILL it if it is still there
    after ``timeout_s``; returns once it is gone."""
    kill: Any = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError):
        kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(pid):
        log.warning("%s: no exit %.0f s after SIGTERM, sending SIGKILL", what, timeout_s)
        with contextlib.suppress(ProcessLookupError):
            kill(pid, signal.SIGKILL)
        while alive(pid):
            time.sleep(0.1)


def stop_process_group(pid: int, timeout_s: float = 15.0) -> None:
    """SIGTERM the process group (uvicorn's supervisor and its server processes alike),
    wait until all of it is gone, SIGKILL what is left after ``timeout_s``."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not group_members(pid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


# --- ports ------------------------------------------------------------------------------------


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ephemeral_ports() -> range:
    """The kernel's ephemeral port range (Linux's default where it cannot be read)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return EPHEMERAL_PORTS
    return range(int(low), int(high) + 1)


def free_port() -> int:
    """A port nobody listens on, outside the ephemeral range: a client can never be given it
    as its own port, so a process restarted on it can always listen again."""
    ephemeral = ephemeral_ports()
    candidates = [port for port in FREE_PORTS if port not in ephemeral]
    for port in random.sample(candidates, min(200, len(candidates))):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {FREE_PORTS} outside the ephemeral range {ephemeral}")
