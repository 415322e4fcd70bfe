#!/usr/bin/env python3
"""The local stack's identity provider: Keycloak, started by the project itself.

The server distribution (``org.keycloak:keycloak-quarkus-dist``, a zip) is resolved by Maven
from ``deploy/local/keycloak.pom.xml`` and unpacked into ``.local/keycloak/dist``; it runs in
development mode on 127.0.0.1 (ports from :class:`shared.settings.StackSettings`:
``OUTREACH_KEYCLOAK_PORT``, ``OUTREACH_KEYCLOAK_MANAGEMENT_PORT``) with its own database
``keycloak`` on the stack's PostgreSQL, and is ready when its health endpoint says so.

The product's realm is ``deploy/keycloak/outreach-realm.json``. Keycloak imports it at start
(``--import-realm``), but only when the realm does not exist yet: an import never changes a
realm. So after every start the launcher compares the realm file (and the demo users of
``deploy/keycloak/demo-users.json``) with what it applied last, recorded on the development
client; when they differ, it deletes the realm and creates it again from the file through
the admin API. Users and keys made in the realm since are gone then, which is what a local
stack wants. Then it adds what only a development stack has, never the realm file:

- the client ``outreach-dev`` with the password grant (for ``token`` below and the tests),
- the demo users of ``deploy/keycloak/demo-users.json`` (one per role and district),
- redirect URIs of the web app on any port of 127.0.0.1 (the tests run it on free ports;
  the realm file keeps the one address of the deployment).

Usage (``stack.py up`` and ``down`` call :func:`ensure_keycloak` and :func:`stop_keycloak`)::

    python deploy/local/keycloak.py up | down | status
    python deploy/local/keycloak.py users             # the demo users and how to sign in
    python deploy/local/keycloak.py token USERNAME    # an access token of a demo user
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from pydantic_settings import SettingsConfigDict  # noqa: E402

from shared.settings import LOCAL_REALM, StackSettings  # noqa: E402

log = logging.getLogger("outreach.stack")
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per admin API call otherwise

DEPLOY_DIR = Path(__file__).resolve().parent
POM_FILE = DEPLOY_DIR / "keycloak.pom.xml"
REALM_FILE = REPO_ROOT / "deploy" / "keycloak" / "outreach-realm.json"
DEMO_USERS_FILE = REPO_ROOT / "deploy" / "keycloak" / "demo-users.json"

LOCAL_DIR = Path(os.environ.get("OUTREACH_STACK_DIR") or REPO_ROOT / ".local").resolve()
KC_ROOT = LOCAL_DIR / "keycloak"
KC_DIST = KC_ROOT / "dist"
KC_LOGS = KC_ROOT / "logs"
KC_LOG = KC_LOGS / "keycloak.log"
KC_MAVEN_LOG = KC_LOGS / "maven.log"
KC_PID = KC_ROOT / "keycloak.pid"
KC_LOCK = KC_ROOT / "keycloak.lock"
DIST_STAMP = ".pom.sha256"

DATABASE = "keycloak"
DEV_CLIENT = "outreach-dev"
WEB_CLIENT = "outreach-web"
DEV_WEB_REDIRECTS = ["http://127.0.0.1:*"]
"""What the development stack's web client admits besides the realm file's redirect URIs: the
web app on any port of this machine (Keycloak matches a trailing ``*`` as a prefix)."""
"""The development stack's client with the password grant (absent from the realm file)."""
APPLIED_ATTRIBUTE = "outreach.applied"
"""Attribute of the development client: the digest of the realm file and demo users it was
made from (see the module docstring)."""
HEAP = "-Xms64m -Xmx768m"
START_TIMEOUT_S = 600
"""The first start builds the server and creates its schema: about a minute on two idle cores,
four times that when they are busy (measured)."""
STOP_TIMEOUT_S = 60


class KeycloakError(RuntimeError):
    """A step failed; ``log_files`` are worth reading (``stack.py`` prints their tails)."""

    def __init__(self, message: str, *log_files: Path) -> None:
        super().__init__(message)
        self.log_files = log_files


class KeycloakSettings(StackSettings):
    """The local Keycloak's administrator (development values; the stack is local only)."""

    model_config = SettingsConfigDict(env_prefix="OUTREACH_", extra="ignore")

    keycloak_admin_user: str = "admin"
    keycloak_admin_password: SecretStr = SecretStr("admin")
    keycloak_admin_client: str = "outreach-stack"
    keycloak_admin_client_secret: SecretStr = SecretStr("outreach-stack-development-secret")


# --- the distribution ---------------------------------------------------------------------


def _digest(*paths: Path) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.read_bytes())
    return sha.hexdigest()


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
    digest = _digest(POM_FILE)
    stamp = KC_DIST / DIST_STAMP
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return kc_home()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KeycloakError(f"mvn not found: Maven resolves Keycloak from {POM_FILE}")
    log.info("keycloak: resolving the distribution with Maven (new or changed POM)")
    started = time.monotonic()
    KC_LOGS.mkdir(parents=True, exist_ok=True)
    download = KC_ROOT / "download"
    partial = KC_ROOT / "dist.partial"
    for directory in (download, partial):
        shutil.rmtree(directory, ignore_errors=True)
    cmd = [
        mvn, "-q", "-B", "-f", str(POM_FILE), "dependency:copy-dependencies",
        f"-DoutputDirectory={download}",
    ]  # fmt: skip
    with KC_MAVEN_LOG.open("w") as out:
        done = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
        )
    archives = sorted(download.glob("keycloak-quarkus-dist-*.zip"))
    if done.returncode != 0 or not archives:
        raise KeycloakError(
            f"Maven could not resolve Keycloak (exit code {done.returncode}): {' '.join(cmd)}",
            KC_MAVEN_LOG,
        )
    _unpack(archives[-1], partial)
    (partial / DIST_STAMP).write_text(digest + "\n")
    shutil.rmtree(KC_DIST, ignore_errors=True)
    partial.rename(KC_DIST)
    shutil.rmtree(download, ignore_errors=True)
    log.info("keycloak: distribution unpacked in %.1f s", time.monotonic() - started)
    return kc_home()


# --- the process ----------------------------------------------------------------------------


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Serialises concurrent ``up``/``down`` of this checkout's Keycloak."""
    KC_ROOT.mkdir(parents=True, exist_ok=True)
    with KC_LOCK.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def keycloak_pid() -> int | None:
    """Pid of the Keycloak started from this checkout (its ``kc.sh``, the leader of its
    process group), or None; a stale pid file is ignored."""
    try:
        pid = int(KC_PID.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if str(KC_DIST).encode() in cmdline and _pid_alive(pid) else None


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


def _start_process(settings: KeycloakSettings, home: Path) -> int:
    imports = home / "data" / "import"
    shutil.rmtree(imports, ignore_errors=True)
    imports.mkdir(parents=True)
    shutil.copyfile(REALM_FILE, imports / REALM_FILE.name)
    env = {
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
    KC_LOGS.mkdir(parents=True, exist_ok=True)
    with KC_LOG.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting Keycloak\n".encode())
        out.flush()
        # A session of its own: the server outlives this command; kc.sh leads the group.
        proc = subprocess.Popen(
            ["bash", str(home / "bin" / "kc.sh"), *server_options(settings)],
            cwd=KC_ROOT,
            env=env,
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
        if pid is not None and not _pid_alive(pid):
            KC_PID.unlink(missing_ok=True)
            raise KeycloakError("Keycloak exited during start-up", KC_LOG)
        if time.monotonic() >= deadline:
            raise KeycloakError(
                f"Keycloak at {settings.keycloak_url} is not ready after {timeout_s:.0f} s", KC_LOG
            )
        time.sleep(0.5)


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
            started = time.monotonic()
            home = ensure_distribution()
            _ensure_database(settings)
            pid = _start_process(settings, home)
            _wait_ready(settings, pid, START_TIMEOUT_S)
            log.info(
                "keycloak: started at %s (pid %d) in %.1f s",
                settings.keycloak_url,
                pid,
                time.monotonic() - started,
            )
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
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid_alive(pid):
            log.warning("keycloak: no exit %d s after SIGTERM, sending SIGKILL", STOP_TIMEOUT_S)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            while _pid_alive(pid):
                time.sleep(0.1)
        KC_PID.unlink(missing_ok=True)
        log.info("keycloak: stopped")


# --- the admin API --------------------------------------------------------------------------


class Admin:
    """Keycloak's admin REST API as the launcher's bootstrap client (client credentials)."""

    def __init__(self, settings: KeycloakSettings | None = None) -> None:
        self.settings = settings or KeycloakSettings()
        self.base = self.settings.keycloak_url
        self._http = httpx.Client(base_url=self.base, timeout=30)
        self._token: str | None = None

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def sign_in(self) -> str:
        """An access token of the admin client (of the master realm)."""
        response = self._http.post(
            "/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.settings.keycloak_admin_client,
                "client_secret": self.settings.keycloak_admin_client_secret.get_secret_value(),
            },
        )
        if response.status_code != 200:
            raise KeycloakError(
                f"the admin client {self.settings.keycloak_admin_client!r} cannot sign in to "
                f"{self.base} ({response.status_code}); was this Keycloak set up with other "
                "OUTREACH_KEYCLOAK_ADMIN_* values?"
            )
        token: str = response.json()["access_token"]
        return token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``path`` below ``/admin/realms``; signs in again once when the token expired."""
        for attempt in (1, 2):
            if self._token is None:
                self._token = self.sign_in()
            response = self._http.request(
                method,
                f"/admin/realms{path}",
                headers={"Authorization": f"Bearer {self._token}"},
                **kwargs,
            )
            if response.status_code != 401 or attempt == 2:
                return response
            self._token = None
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of a request that must succeed (None if it has no body)."""
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise KeycloakError(
                f"Keycloak admin API: {method} {path} answered {response.status_code}: "
                f"{response.text[:500]}"
            )
        return response.json() if response.content else None

    def realm_exists(self, realm: str) -> bool:
        return self.request("GET", f"/{realm}").status_code == 200

    def client(self, realm: str, client_id: str) -> dict[str, Any] | None:
        found = self.call("GET", f"/{realm}/clients", params={"clientId": client_id})
        return found[0] if found else None

    def user(self, realm: str, username: str) -> dict[str, Any] | None:
        found = self.call("GET", f"/{realm}/users", params={"username": username, "exact": "true"})
        return found[0] if found else None

    def role(self, realm: str, name: str) -> dict[str, Any]:
        role: dict[str, Any] = self.call("GET", f"/{realm}/roles/{name}")
        return role

    def put_user(
        self,
        realm: str,
        username: str,
        role: str,
        attributes: Mapping[str, list[str]],
        password: str,
        first_name: str = "",
        last_name: str = "",
    ) -> str:
        """Create the user, or make an existing one's attributes and sole realm role these;
        returns the user's id."""
        representation: dict[str, Any] = {
            "username": username,
            "enabled": True,
            "firstName": first_name or username,
            "lastName": last_name or "Outreach",
            "email": f"{username}@outreach.invalid",
            "emailVerified": True,
            "requiredActions": [],
            "attributes": dict(attributes),
        }
        existing = self.user(realm, username)
        if existing is None:
            representation["credentials"] = [
                {"type": "password", "value": password, "temporary": False}
            ]
            response = self.request("POST", f"/{realm}/users", json=representation)
            if response.status_code != 201:
                raise KeycloakError(
                    f"creating user {username}: {response.status_code} {response.text[:300]}"
                )
            user_id = response.headers["Location"].rsplit("/", 1)[-1]
        else:
            user_id = existing["id"]
            self.call("PUT", f"/{realm}/users/{user_id}", json=representation)
        mappings = f"/{realm}/users/{user_id}/role-mappings/realm"
        wanted = self.role(realm, role)
        current = [r for r in self.call("GET", mappings) if r["name"] in product_roles()]
        stale = [r for r in current if r["name"] != role]
        if stale:
            self.call("DELETE", mappings, json=stale)
        if not any(r["name"] == role for r in current):
            self.call("POST", mappings, json=[wanted])
        return str(user_id)


# --- the realm ------------------------------------------------------------------------------


def realm_representation(name: str = LOCAL_REALM) -> dict[str, Any]:
    """The realm file, as realm ``name``."""
    realm: dict[str, Any] = json.loads(REALM_FILE.read_text())
    realm["realm"] = name
    realm.pop("id", None)
    return realm


def product_roles() -> list[str]:
    return [role["name"] for role in realm_representation()["roles"]["realm"]]


def demo_users() -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = json.loads(DEMO_USERS_FILE.read_text())["users"]
    return users


def demo_password() -> str:
    password: str = json.loads(DEMO_USERS_FILE.read_text())["password"]
    return password


def create_realm(admin: Admin, name: str = LOCAL_REALM) -> None:
    """Create realm ``name`` from the realm file (what ``--import-realm`` does at start)."""
    admin.call("POST", "", json=realm_representation(name))


def add_dev_client(admin: Admin, realm: str = LOCAL_REALM, applied: str = "") -> None:
    """The public client with the password grant that only development stacks have: the
    realm file's web client without the browser, for ``token`` and the tests."""
    web = next(c for c in realm_representation()["clients"] if c["clientId"] == "outreach-web")
    client = {
        "clientId": DEV_CLIENT,
        "name": "Outreach development sign-in (password grant; never in production)",
        "enabled": True,
        "publicClient": True,
        "standardFlowEnabled": False,
        "directAccessGrantsEnabled": True,
        "fullScopeAllowed": web["fullScopeAllowed"],
        "defaultClientScopes": web["defaultClientScopes"],
        "optionalClientScopes": [],
        "attributes": {APPLIED_ATTRIBUTE: applied},
    }
    existing = admin.client(realm, DEV_CLIENT)
    if existing is None:
        admin.call("POST", f"/{realm}/clients", json=client)
        existing = admin.client(realm, DEV_CLIENT)
        assert existing is not None
    else:
        admin.call("PUT", f"/{realm}/clients/{existing['id']}", json=client)
    # The web client's role scope: only the product's roles reach the token.
    scope = f"/{realm}/clients/{existing['id']}/scope-mappings/realm"
    admin.call("POST", scope, json=[admin.role(realm, name) for name in product_roles()])


def widen_web_client(admin: Admin, realm: str = LOCAL_REALM) -> None:
    """The web client of a development stack also admits the web app on any local port."""
    web = admin.client(realm, WEB_CLIENT)
    assert web is not None, f"the realm file has no client {WEB_CLIENT}"
    redirects = [*web.get("redirectUris", []), *DEV_WEB_REDIRECTS]
    attributes = dict(web.get("attributes") or {})
    logout = [u for u in attributes.get("post.logout.redirect.uris", "").split("##") if u]
    attributes["post.logout.redirect.uris"] = "##".join([*logout, *DEV_WEB_REDIRECTS])
    changed = {**web, "redirectUris": sorted(set(redirects)), "attributes": attributes}
    admin.call("PUT", f"/{realm}/clients/{web['id']}", json=changed)


def ensure_realm(admin: Admin, realm: str = LOCAL_REALM) -> None:
    """The realm as the realm file says, with the development client and the demo users."""
    digest = hashlib.sha256(
        (_digest(REALM_FILE, DEMO_USERS_FILE) + json.dumps(DEV_WEB_REDIRECTS)).encode()
    ).hexdigest()
    exists = admin.realm_exists(realm)
    dev = admin.client(realm, DEV_CLIENT) if exists else None
    applied = (dev or {}).get("attributes", {}).get(APPLIED_ATTRIBUTE)
    if applied == digest:
        return
    if exists and dev is not None:
        log.info("keycloak: the realm file or the demo users changed: recreating realm %s", realm)
        admin.call("DELETE", f"/{realm}")
        exists = False
    if not exists:
        create_realm(admin, realm)
    password = demo_password()
    for user in demo_users():
        attributes = {"districts": user["districts"]}
        if user.get("provider"):
            attributes["provider"] = [user["provider"]]
        admin.put_user(
            realm,
            user["username"],
            user["role"],
            attributes,
            password,
            user["firstName"],
            user["lastName"],
        )
    widen_web_client(admin, realm)
    add_dev_client(admin, realm, applied=digest)
    log.info("keycloak: realm %s with %d demo users", realm, len(demo_users()))


# --- tokens ---------------------------------------------------------------------------------


def password_token(
    settings: StackSettings,
    username: str,
    password: str,
    realm: str = LOCAL_REALM,
    client_id: str = DEV_CLIENT,
) -> str:
    """An access token of a user, by the password grant of the development client."""
    response = httpx.post(
        f"{settings.keycloak_url}/realms/{realm}/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": client_id,
            "username": username,
            "password": password,
            "scope": "openid",
        },
        timeout=30,
    )
    if response.status_code != 200:
        raise KeycloakError(
            f"signing in as {username} failed: {response.status_code} {response.text[:300]}"
        )
    token: str = response.json()["access_token"]
    return token


def sign_in_lines(settings: StackSettings) -> list[str]:
    """How to sign in as each demo user (printed by ``make up``)."""
    lines = [
        f"Sign-in (Keycloak {settings.keycloak_url}, realm {LOCAL_REALM}); "
        f"every demo user's password: {demo_password()}",
        f"  administration: {settings.keycloak_url}/admin (the OUTREACH_KEYCLOAK_ADMIN_* user)",
        "  a token for curl: export TOKEN=$(.venv/bin/python deploy/local/keycloak.py "
        "token USERNAME)",
    ]
    for user in demo_users():
        name = f"{user['firstName']} {user['lastName']}"
        where = ", ".join(user["districts"])
        lines.append(f"  {user['username']:<22} {name:<22} {user['role']:<24} {where}")
    return lines


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keycloak.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("up", help="start Keycloak, bring the realm up to date")
    commands.add_parser("down", help="stop Keycloak")
    commands.add_parser("status", help="exit code 0 only if Keycloak is ready")
    commands.add_parser("users", help="the demo users and how to sign in")
    token = commands.add_parser("token", help="print an access token of a demo user")
    token.add_argument("username")
    token.add_argument("--password", default=None, help="default: the demo users' password")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="stack: %(message)s", stream=sys.stderr)
    settings = KeycloakSettings()
    try:
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
    except KeycloakError as exc:
        print(f"keycloak: error: {exc}", file=sys.stderr)
        for log_file in exc.log_files:
            if log_file.exists():
                tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-40:])
                print(f"--- last lines of {log_file} ---\n{tail}\n---", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
