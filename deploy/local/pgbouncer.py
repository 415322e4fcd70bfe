"""PgBouncer of the local stack, in transaction mode in front of PostgreSQL, for services that
run as several replicas (``services.py up --replicas N``): Debian's ``pgbouncer`` package
(installed with apt-get when ``/usr/sbin/pgbouncer`` is missing), bound to 127.0.0.1 on
``OUTREACH_PG_POOLER_PORT`` (default: PostgreSQL's port + 1), its generated configuration, log
and pid file in ``.local/pgbouncer``. PgBouncer refuses to run as root: as root it runs as the
user that runs PostgreSQL (``deploy/local/postgres.py``).

Every database of the server is served (``*``), so scratch databases of the tests are, too.
The services reach it through ``OUTREACH_PG_POOLER_PORT`` (:func:`pooler_env`); what needs a
session (leader locks, ``LISTEN``, schema and rebuild locks) still connects to PostgreSQL's
own port. Which connection goes where, the pool sizes and their formula: deploy/README.md,
"Database connections".
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import time
from pathlib import Path

from deploy.local.launcher import (
    LOCAL_DIR,
    StackError,
    alive,
    cmdline,
    is_root,
    port_open,
    run_tool,
    stack_lock,
    terminate,
)
from deploy.local.postgres import PG_OS_USER, pg_os_user
from shared.settings import StackSettings

log = logging.getLogger("outreach.stack")

PGBOUNCER = Path("/usr/sbin/pgbouncer")
PGB_ROOT = LOCAL_DIR / "pgbouncer"
PGB_CONFIG = PGB_ROOT / "pgbouncer.ini"
PGB_USERS = PGB_ROOT / "userlist.txt"
PGB_LOG = PGB_ROOT / "pgbouncer.log"
PGB_PID = PGB_ROOT / "pgbouncer.pid"
START_TIMEOUT_S = 30.0

PREPARED_STATEMENTS_SINCE = (1, 21)
"""The first PgBouncer that keeps each client's prepared statements in transaction mode
(``max_prepared_statements``). Before it, clients must prepare none."""

POOL_SIZE = 20
"""Server connections per database (and user) the pooler opens at most: every service's
database and the keyring's. See deploy/README.md, "Database connections"."""
MAX_CLIENTS = 4000
"""Client connections it accepts: each replica's pools, at most (deploy/README.md)."""
MAX_PREPARED_STATEMENTS = 200
"""Each client's prepared statements it keeps across the server connections the client gets
(``max_prepared_statements``, where the PgBouncer has it)."""

TRANSACTION_POOLING: dict[str, str] = {
    # A server connection serves one transaction at a time, then the next client's.
    "default_pool_size": str(POOL_SIZE),
    "reserve_pool_size": "0",
    "max_client_conn": str(MAX_CLIENTS),
    # A server connection unused for a while is closed; one whose server restarted is noticed.
    "server_idle_timeout": "60",
    "server_connect_timeout": "2",
    "server_login_retry": "1",
    # A client that holds a transaction open while doing nothing holds a server connection.
    "idle_transaction_timeout": "60",
    "tcp_keepalive": "1",
    "tcp_keepidle": "5",
    "tcp_keepintvl": "2",
    "tcp_keepcnt": "3",
}
"""The pooling the services are built for (``pool_mode = transaction`` besides): the local
PgBouncer's and the Kubernetes ``Pooler``'s (deploy/k8s/generate.py)."""


def pooler_port(settings: StackSettings) -> int:
    return settings.pg_pooler_port or settings.pg_port + 1


def version() -> tuple[int, int]:
    """The installed PgBouncer's version (major, minor)."""
    out = run_tool([PGBOUNCER, "--version"], "pgbouncer --version")
    found = re.search(r"(\d+)\.(\d+)", out)
    if found is None:
        raise StackError(f"cannot read PgBouncer's version from {out!r}")
    return int(found[1]), int(found[2])


def keeps_prepared_statements() -> bool:
    return version() >= PREPARED_STATEMENTS_SINCE


def pooler_settings(port: int) -> dict[str, object]:
    """The settings (``StackSettings`` fields) of connecting the pools through the pooler on
    ``port``."""
    return {"pg_pooler_port": port, "pg_pooler_prepared_statements": keeps_prepared_statements()}


def pooler_env(settings: StackSettings) -> dict[str, str]:
    """What a service process needs to connect its pools through the pooler."""
    return {
        f"OUTREACH_{key.upper()}": str(value).lower()
        for key, value in pooler_settings(pooler_port(settings)).items()
    }


# --- installation and configuration ---------------------------------------------------------


def ensure_installed() -> None:
    """Install Debian's ``pgbouncer`` package if it is missing."""
    if PGBOUNCER.exists():
        return
    if not is_root():
        raise StackError(
            "pgbouncer is not installed: run `apt-get install --no-install-recommends "
            "pgbouncer` as root (Debian's package)"
        )
    log.info("pgbouncer: installing Debian's package (apt-get)")
    install = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q"]
    install += ["--no-install-recommends", "pgbouncer"]
    try:
        run_tool(install, "apt-get install pgbouncer")
    except StackError:  # package lists missing or stale
        run_tool(["apt-get", "update", "-q"], "apt-get update")
        run_tool(install, "apt-get install pgbouncer")


def config(settings: StackSettings, prepared_statements: bool) -> str:
    """The configuration: transaction pooling of every database on the local server."""
    prepared = (
        "# Each client's prepared statements, kept across the server connections it gets.\n"
        f"max_prepared_statements = {MAX_PREPARED_STATEMENTS}\n"
        if prepared_statements
        else "# This PgBouncer keeps no prepared statements: the services prepare none through\n"
        "# it (OUTREACH_PG_POOLER_PREPARED_STATEMENTS=false).\n"
    )
    pooling = "\n".join(f"{key} = {value}" for key, value in TRANSACTION_POOLING.items())
    return f"""\
; Written by deploy/local/pgbouncer.py before every start; change ports via OUTREACH_* instead.
[databases]
* = host={settings.pg_host} port={settings.pg_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {pooler_port(settings)}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {PGB_USERS}
logfile = {PGB_LOG}
pool_mode = transaction
{pooling}
{prepared}"""


def _write_files(settings: StackSettings, prepared_statements: bool) -> bool:
    """Write the configuration and the user list; whether the configuration changed."""
    PGB_ROOT.mkdir(parents=True, exist_ok=True)
    before = PGB_CONFIG.read_text() if PGB_CONFIG.exists() else ""
    text = config(settings, prepared_statements)
    PGB_CONFIG.write_text(text)
    password = settings.pg_password.get_secret_value().replace('"', '""')
    PGB_USERS.write_text(f'"{settings.pg_user}" "{password}"\n')
    PGB_USERS.chmod(0o600)
    if is_root():
        user = pg_os_user()
        for path in (PGB_ROOT, PGB_CONFIG, PGB_USERS, PGB_LOG):
            path.touch(exist_ok=True)
            os.chown(path, user.pw_uid, user.pw_gid)
    return text != before


# --- the process ----------------------------------------------------------------------------


def pgbouncer_pid() -> int | None:
    """The pid of our PgBouncer, if it runs (the pid file is checked against the process)."""
    try:
        pid = int(PGB_PID.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) and str(PGB_CONFIG).encode() in cmdline(pid) else None


def _start_process() -> int:
    cmd = [str(PGBOUNCER), str(PGB_CONFIG)]
    if is_root():
        cmd = ["runuser", "-u", PG_OS_USER, "--", *cmd]
    with open(os.devnull, "wb") as quiet:  # it logs to its logfile
        process = subprocess.Popen(
            cmd,
            cwd=PGB_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=quiet,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    PGB_PID.write_text(f"{process.pid}\n")
    return process.pid


def _server_pid(launcher_pid: int) -> int:
    """PgBouncer's own pid: ``runuser`` starts it as a child (and waits for it)."""
    with contextlib.suppress(OSError, ValueError):
        children = Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split()
        if children:
            return int(children[0])
    return launcher_pid


def ensure_pgbouncer(settings: StackSettings | None = None) -> int:
    """Install if missing, (re)write the configuration, start or reload; returns its port.
    Idempotent."""
    settings = settings or StackSettings()
    port = pooler_port(settings)
    with stack_lock():
        ensure_installed()
        changed = _write_files(settings, keeps_prepared_statements())
        pid = pgbouncer_pid()
        if pid is not None:
            if changed:
                os.kill(_server_pid(pid), 1)  # SIGHUP: reads the configuration again
            log.info("pgbouncer: already running on port %d (pid %d)", port, pid)
            return port
        if port_open("127.0.0.1", port):
            raise StackError(f"port {port} (the pooler's) is taken by another process")
        pid = _start_process()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_open("127.0.0.1", port):
            if not alive(pid):
                raise StackError("pgbouncer exited while starting", PGB_LOG)
            if time.monotonic() > deadline:
                raise StackError(f"pgbouncer not listening within {START_TIMEOUT_S:.0f} s", PGB_LOG)
            time.sleep(0.1)
        log.info("pgbouncer: started on port %d (pid %d)", port, pid)
        return port


def stop_pgbouncer() -> None:
    with stack_lock():
        pid = pgbouncer_pid()
        if pid is not None:
            terminate(pid, 15.0, "pgbouncer", group=True)
            log.info("pgbouncer: stopped")
        with contextlib.suppress(FileNotFoundError):
            PGB_PID.unlink()


def print_status(settings: StackSettings) -> None:
    """A line about the pooler, if it runs (it is started only with replicas)."""
    pid = pgbouncer_pid()
    if pid is not None:
        print(f"pgbouncer  up    127.0.0.1:{pooler_port(settings)} (ours, pid {pid})")
