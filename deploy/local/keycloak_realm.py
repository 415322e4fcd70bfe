"""The local Keycloak's realm, through its admin API: the product's realm as
``deploy/keycloak/outreach-realm.json`` says, and what only a development stack has, never
the realm file:

- the client ``outreach-dev`` with the password grant (for ``keycloak.py token`` and the
  tests),
- the demo users of ``deploy/keycloak/demo-users.json`` (one per role and district),
- redirect URIs of the staff web app on any port of 127.0.0.1 (the tests run it on free
  ports; the realm file keeps the one address of the deployment).

An import (``--import-realm``) never changes an existing realm, so after every start the
launcher compares the realm file and the demo users with what it applied last, recorded on
the development client; when they differ, it deletes the realm and creates it again from the
file. Users and keys made in the realm since are gone then, which is what a local stack wants.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from deploy.local.launcher import REPO_ROOT, StackError, digest
from shared.settings import LOCAL_REALM, StackSettings

log = logging.getLogger("outreach.stack")
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per admin API call otherwise

REALM_FILE = REPO_ROOT / "deploy" / "keycloak" / "outreach-realm.json"
DEMO_USERS_FILE = REPO_ROOT / "deploy" / "keycloak" / "demo-users.json"

DEV_CLIENT = "outreach-dev"
"""The development stack's client with the password grant (absent from the realm file)."""
APPLIED_ATTRIBUTE = "outreach.applied"
"""Attribute of the development client: the digest of the realm file and demo users it was
made from (see the module docstring)."""
WEB_CLIENT = "outreach-web"
DEV_WEB_REDIRECTS = ["http://127.0.0.1:*"]
"""What the development stack's web client admits besides the realm file's redirect URIs: the
web app on any port of this machine (Keycloak matches a trailing ``*`` as a prefix)."""


class KeycloakError(StackError):
    """A step of the Keycloak launcher failed (``stack.py`` prints the tails of its logs)."""


class KeycloakSettings(StackSettings):
    """The local Keycloak's administrator (development values; the stack is local only)."""

    model_config = SettingsConfigDict(env_prefix="OUTREACH_", extra="ignore")

    keycloak_admin_user: str = "admin"
    keycloak_admin_password: SecretStr = SecretStr("admin")
    keycloak_admin_client: str = "outreach-stack"
    keycloak_admin_client_secret: SecretStr = SecretStr("outreach-stack-development-secret")


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
        user_id = self._write_user(realm, representation, password)
        self._set_sole_role(realm, user_id, role)
        return user_id

    def _write_user(self, realm: str, representation: dict[str, Any], password: str) -> str:
        """Create the user (with ``password``) or update the existing one; its id."""
        existing = self.user(realm, representation["username"])
        if existing is not None:
            self.call("PUT", f"/{realm}/users/{existing['id']}", json=representation)
            return str(existing["id"])
        credentials = [{"type": "password", "value": password, "temporary": False}]
        response = self.request(
            "POST", f"/{realm}/users", json={**representation, "credentials": credentials}
        )
        if response.status_code != 201:
            raise KeycloakError(
                f"creating user {representation['username']}: {response.status_code} "
                f"{response.text[:300]}"
            )
        return response.headers["Location"].rsplit("/", 1)[-1]

    def _set_sole_role(self, realm: str, user_id: str, role: str) -> None:
        """``role`` the user's only product role (other realm roles are left alone)."""
        mappings = f"/{realm}/users/{user_id}/role-mappings/realm"
        wanted = self.role(realm, role)
        current = [r for r in self.call("GET", mappings) if r["name"] in product_roles()]
        stale = [r for r in current if r["name"] != role]
        if stale:
            self.call("DELETE", mappings, json=stale)
        if not any(r["name"] == role for r in current):
            self.call("POST", mappings, json=[wanted])


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


def demo_attributes(user: Mapping[str, Any], provider: str | None = None) -> dict[str, list[str]]:
    """A demo user's attributes in Keycloak: districts, form of address (how letters name
    them), and the provider of a provider's outreach worker."""
    attributes = {
        "districts": list(user["districts"]),
        "form_of_address": [user.get("form_of_address") or "name_only"],
    }
    if provider or user.get("provider"):
        attributes["provider"] = [provider or user["provider"]]
    return attributes


def _put_demo_users(admin: Admin, realm: str) -> None:
    password = demo_password()
    for user in demo_users():
        admin.put_user(
            realm,
            user["username"],
            user["role"],
            demo_attributes(user),
            password,
            user["firstName"],
            user["lastName"],
        )


def client_secret(admin: Admin, client_id: str, realm: str = LOCAL_REALM) -> str:
    """The secret Keycloak made for a confidential client of the realm file (the file holds
    none)."""
    client = admin.client(realm, client_id)
    if client is None:
        raise KeycloakError(f"the realm {realm} has no client {client_id}")
    secret: str = admin.call("GET", f"/{realm}/clients/{client['id']}/client-secret")["value"]
    return secret


DIRECTORY_CLIENT = "outreach-directory"
"""The realm file's client that reads the staff for the notifications' staff directory."""


def directory_sync_env(realm: str = LOCAL_REALM) -> dict[str, str]:
    """The notifications service's settings of the staff directory's synchronisation with the
    local Keycloak (what a deployment sets for its identity provider)."""
    with Admin() as admin:
        secret = client_secret(admin, DIRECTORY_CLIENT, realm)
        url = admin.base
    return {
        "OUTREACH_DIRECTORY_ADMIN_URL": url,
        "OUTREACH_DIRECTORY_REALM": realm,
        "OUTREACH_DIRECTORY_CLIENT_ID": DIRECTORY_CLIENT,
        "OUTREACH_DIRECTORY_CLIENT_SECRET": secret,
    }


def widen_web_client(admin: Admin, realm: str = LOCAL_REALM) -> None:
    """The web client of a development stack also admits the web app on any local port."""
    web = admin.client(realm, WEB_CLIENT)
    if web is None:
        raise KeycloakError(f"the realm file has no client {WEB_CLIENT}")
    redirects = [*web.get("redirectUris", []), *DEV_WEB_REDIRECTS]
    attributes = dict(web.get("attributes") or {})
    logout = [u for u in attributes.get("post.logout.redirect.uris", "").split("##") if u]
    attributes["post.logout.redirect.uris"] = "##".join([*logout, *DEV_WEB_REDIRECTS])
    changed = {**web, "redirectUris": sorted(set(redirects)), "attributes": attributes}
    admin.call("PUT", f"/{realm}/clients/{web['id']}", json=changed)


def ensure_realm(admin: Admin, realm: str = LOCAL_REALM) -> None:
    """The realm as the realm file says, with the development client, the demo users and the
    web client widened to local ports."""
    # The widening is part of what was applied: a change to it recreates the realm, too.
    applied_now = hashlib.sha256(
        (digest(REALM_FILE, DEMO_USERS_FILE) + json.dumps(DEV_WEB_REDIRECTS)).encode()
    ).hexdigest()
    exists = admin.realm_exists(realm)
    dev = admin.client(realm, DEV_CLIENT) if exists else None
    applied = (dev or {}).get("attributes", {}).get(APPLIED_ATTRIBUTE)
    if applied == applied_now:
        return
    if exists and dev is not None:
        log.info("keycloak: the realm file or the demo users changed: recreating realm %s", realm)
        admin.call("DELETE", f"/{realm}")
        exists = False
    if not exists:
        create_realm(admin, realm)
    _put_demo_users(admin, realm)
    widen_web_client(admin, realm)
    add_dev_client(admin, realm, applied=applied_now)
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
