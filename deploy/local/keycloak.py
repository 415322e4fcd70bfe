#!/usr/bin/env python3
"""The local stack's identity provider: Keycloak, started by the project itself.

The server distribution (``org.keycloak:keycloak-quarkus-dist``, a zip) is resolved by Maven
from ``deploy/local/keycloak.pom.xml`` and unpacked into ``.local/keycloak/dist``; it runs in
development mode on 127.0.0.1 (ports from :class:`shared.settings.StackSettings`:
``OUTREACH_KEYCLOAK_PORT``, ``OUTREACH_KEYCLOAK_MANAGEMENT_PORT``) with its own database
``keycloak`` on the stack's PostgreSQL, and is ready when its health endpoint says so.

The product's realm is ``deploy/keycloak/outreach-realm.json``; after every start the realm,
the development client and the demo users are brought up to date (``keycloak_realm.py``).

Usage (``stack.py up`` and ``down`` call :func:`ensure_keycloak` and :func:`stop_keycloak`)::

    python deploy/local/keycloak.py up | down | status
    python deploy/local/keycloak.py users             # the demo users and how to sign in
    python deploy/local/keycloak.py token USERNAME    # an access token of a demo user
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from deploy.local.keycloak_realm import (  # noqa: E402
    Admin,
    KeycloakError,
    KeycloakSettings,
    demo_password,
    ensure_realm,
    password_token,
    sign_in_lines,
)
from deploy.local.launcher import (  # noqa: E402
    LOCAL_DIR,
    FileLock,
    alive,
    cmdline,
    digest,
    maven_copy,
    tail,
    terminate,
)
from shared.settings import StackSettings  # noqa: E402

log = logging.getLogger("outreach.stack")

DEPLOY_DIR = Path(__file__).resolve().parent
POM_FILE = DEPLOY_DIR / "keycloak.pom.xml"
REALM_FILE = REPO_ROOT / "deploy" / "keycloak" / "outreach-realm.json"

KC_ROOT = LOCAL_DIR / "keycloak"
KC_DIST = KC_ROOT / "dist"
KC_LOGS = KC_ROOT / "logs"
KC_LOG = KC_LOGS / "keycloak.log"
KC_MAVEN_LOG = KC_LOGS / "maven.log"
KC_PID = KC_ROOT / "keycloak.pid"
DIST_STAMP = ".pom.sha256"

DATABASE = "keycloak"
HEAP = "-Xms64m -Xmx768m"
START_TIMEOUT_S = 600
"""The first start builds the server and creates its schema: about a minute on two idle cores,
four times that when they are busy (measured)."""
STOP_TIMEOUT_S = 60

_locked = FileLock(KC_ROOT / "keycloak.lock")
"""Serialises concurrent ``up``/``down`` of this checkout's Keycloak."""


# --- the distribution ---------------------------------------------------------------------


def kc_home() -> Path:
    """The unpacked distribution (``dist/keycloak-<version>``)."""
    homes = sorted(KC_DIST.glob("keycloak-*/bin/kc.sh"))
    if not homes:
        raise KeycloakError(f"no Keycloak distribution in {KC_DIST}")
    return homes[-1].parents[1]


def _unpack(archive: Path, target: Path) -> None:
    """Unzip keeping the files' modes (``zipfile`` alone drops the executable bits)."""
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            path = Path(zipped.extract(member, target))
            mode = member.external_attr >> 16
            if mode and not member.is_dir():
                path.chmod(stat.S_IMODE(mode))


def ensure_distribution() -> Path:
    """Resolve and unpack the distribution unless the POM is unchanged; its home directory."""
    pom_digest = digest(POM_FILE)
    stamp = KC_DIST / DIST_STAMP
    if stamp.is_file() and stamp.read_text().strip() == pom_digest:
        return kc_home()
    log.info("keycloak: resolving the distribution with Maven (new or changed POM)")
    started = time.monotonic()
    download = KC_ROOT / "download"
    partial = KC_ROOT / "dist.partial"
    for directory in (download, partial):
        shutil.rmtree(directory, ignore_errors=True)
    maven_copy(POM_FILE, download, KC_MAVEN_LOG, "keycloak-quarkus-dist-*.zip")
    _unpack(sorted(download.glob("keycloak-quarkus-dist-*.zip"))[-1], partial)
    (partial / DIST_STAMP).write_text(pom_digest + "\n")
    shutil.rmtree(KC_DIST, ignore_errors=True)
    partial.rename(KC_DIST)
    shutil.rmtree(download, ignore_errors=True)
    log.info("keycloak: distribution unpacked in %.1f s", time.monotonic() - started)
    return kc_home()


# --- the process ----------------------------------------------------------------------------


def keycloak_pid() -> int | None:
    """Pid of the Keycloak started from this checkout (its ``kc.sh``, the leader of its
    process group), or None; a stale pid file is ignored."""
    try:
        pid = int(KC_PID.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if str(KC_DIST).encode() in cmdline(pid) and alive(pid) else None


def _ensure_database(settings: StackSettings) -> None:
    with psycopg.connect(settings.database_url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if exists.fetchone() is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
                log.info("keycloak: created database %s", DATABASE)


def server_options(settings: StackSettings) -> list[str]:
    """``kc.sh start-dev`` options: development mode (no TLS, local caches), the realm
    import, a fixed issuer host and the stack's PostgreSQL."""
    return [
        "start-dev",
        "--import-realm",
        "--http-host=127.0.0.1",
        f"--http-port={settings.keycloak_port}",
        f"--http-management-port={settings.keycloak_management_port}",
        # Tokens name this issuer however the server was reached (localhost, 127.0.0.1).
        f"--hostname={settings.keycloak_url}",
        "--health-enabled=true",
        "--db=postgres",
        f"--db-url=jdbc:postgresql://{settings.pg_host}:{settings.pg_port}/{DATABASE}",
        f"--db-username={settings.pg_user}",
        "--db-pool-max-size=20",
    ]


def _server_env(settings: KeycloakSettings) -> dict[str, str]:
    return {
        **os.environ,
        "KC_DB_PASSWORD": settings.pg_password.get_secret_value(),
        # Created with the master realm at the first start only: an administrator for the
        # console and a client for the launcher's (and the tests') admin API calls.
        "KC_BOOTSTRAP_ADMIN_USERNAME": settings.keycloak_admin_user,
        "KC_BOOTSTRAP_ADMIN_PASSWORD": settings.keycloak_admin_password.get_secret_value(),
        "KC_BOOTSTRAP_ADMIN_CLIENT_ID": settings.keycloak_admin_client,
        "KC_BOOTSTRAP_ADMIN_CLIENT_SECRET": (
            settings.keycloak_admin_client_secret.get_secret_value()
        ),
        "JAVA_OPTS_KC_HEAP": HEAP,
        # The quick JIT compiler only: start-up on two busy cores took half the time (45 s
        # against 21 s measured); a development server does not need the optimising one.
        "JAVA_OPTS_APPEND": "-XX:TieredStopAtLevel=1",
    }


def _start_process(settings: KeycloakSettings, home: Path) -> int:
    imports = home / "data" / "import"
    shutil.rmtree(imports, ignore_errors=True)
    imports.mkdir(parents=True)
    shutil.copyfile(REALM_FILE, imports / REALM_FILE.name)
    KC_LOGS.mkdir(parents=True, exist_ok=True)
    with KC_LOG.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting Keycloak\n".encode())
        out.flush()
        # A session of its own: the server outlives this command; kc.sh leads the group.
        proc = subprocess.Popen(
            ["bash", str(home / "bin" / "kc.sh"), *server_options(settings)],
            cwd=KC_ROOT,
            env=_server_env(settings),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    KC_PID.write_text(f"{proc.pid}\n")
    return proc.pid


def ready(settings: StackSettings, timeout: float = 2.0) -> bool:
    """Whether Keycloak's readiness check answers UP."""
    url = f"http://127.0.0.1:{settings.keycloak_management_port}/health/ready"
    try:
        response = httpx.get(url, timeout=timeout)
        return response.status_code == 200 and response.json().get("status") == "UP"
    except (httpx.HTTPError, ValueError):
        return False


def _wait_ready(settings: StackSettings, pid: int | None, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready(settings):
        if pid is not None and not alive(pid):
            KC_PID.unlink(missing_ok=True)
            raise KeycloakError("Keycloak exited during start-up", KC_LOG)
        if time.monotonic() >= deadline:
            raise KeycloakError(
                f"Keycloak at {settings.keycloak_url} is not ready after {timeout_s:.0f} s", KC_LOG
            )
        time.sleep(0.5)


def _start(settings: KeycloakSettings) -> None:
    started = time.monotonic()
    home = ensure_distribution()
    _ensure_database(settings)
    pid = _start_process(settings, home)
    _wait_ready(settings, pid, START_TIMEOUT_S)
    elapsed = time.monotonic() - started
    log.info("keycloak: started at %s (pid %d) in %.1f s", settings.keycloak_url, pid, elapsed)


def ensure_keycloak(settings: KeycloakSettings | None = None) -> None:
    """Start Keycloak (resolving it first), then bring the realm and the development users
    up to date. Idempotent; quick when it runs already."""
    settings = settings or KeycloakSettings()
    with _locked():
        pid = keycloak_pid()
        if pid is not None:
            _wait_ready(settings, pid, START_TIMEOUT_S)
            log.info("keycloak: already running at %s (pid %d)", settings.keycloak_url, pid)
        elif ready(settings):
            log.info("keycloak: using the server already answering at %s (not ours)", KC_ROOT)
        else:
            _start(settings)
        with Admin(settings) as admin:
            ensure_realm(admin)


def stop_keycloak() -> None:
    """SIGTERM our Keycloak's process group, SIGKILL if it is still there after a minute."""
    with _locked():
        pid = keycloak_pid()
        if pid is None:
            KC_PID.unlink(missing_ok=True)
            log.info("keycloak: not running")
            return
        terminate(pid, STOP_TIMEOUT_S, "keycloak", group=True)
        KC_PID.unlink(missing_ok=True)
        log.info("keycloak: stopped")


# --- status and command line ------------------------------------------------------------------


def print_status(settings: StackSettings) -> bool:
    """One line for ``stack.py status``; whether Keycloak is ready."""
    pid = keycloak_pid()
    if ready(settings):
        owner = f"ours, pid {pid}" if pid else "not ours"
        print(f"keycloak  up    {settings.local_issuer} ({owner})")
        return True
    state = f"running (pid {pid}) but not ready" if pid else "down"
    print(f"keycloak  {state:<5} {settings.keycloak_url}")
    return False


def compose_env(settings: StackSettings) -> dict[str, str]:
    """Keycloak's part of ``stack.py env`` (deploy/compose.yaml)."""
    return {
        "OUTREACH_KEYCLOAK_PORT": str(settings.keycloak_port),
        "OUTREACH_KEYCLOAK_MANAGEMENT_PORT": str(settings.keycloak_management_port),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keycloak.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("up", help="start Keycloak, bring the realm up to date")
    commands.add_parser("down", help="stop Keycloak")
    commands.add_parser("status", help="exit code 0 only if Keycloak is ready")
    commands.add_parser("users", help="the demo users and how to sign in")
    token = commands.add_parser("token", help="print an access token of a demo user")
    token.add_argument("username")
    token.add_argument("--password", default=None, help="default: the demo users' password")
    return parser


def _command(args: argparse.Namespace, settings: KeycloakSettings) -> int:
    match args.command:
        case "up":
            ensure_keycloak(settings)
        case "down":
            stop_keycloak()
        case "status":
            return 0 if print_status(settings) else 1
        case "users":
            print("\n".join(sign_in_lines(settings)))
        case "token":
            password = args.password or demo_password()
            print(password_token(settings, args.username, password))
        case _:  # pragma: no cover - argparse rejects unknown commands
            raise AssertionError(args.command)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="stack: %(message)s", stream=sys.stderr)
    try:
        return _command(args, KeycloakSettings())
    except KeycloakError as exc:
        print(f"keycloak: error: {exc}", file=sys.stderr)
        for log_file in exc.log_files:
            text = tail(log_file)
            if text:
                print(f"--- last lines of {log_file} ---\n{text}\n---", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
