"""Real tokens of the local stack's Keycloak for the tests, without a browser.

Users are made on the fly through the admin API (any user name, role, districts and
provider) and sign in with the password grant of the development client ``outreach-dev``,
which only the development stack has (``deploy/local/keycloak.py``; never the realm file).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from uuid import UUID

import jwt

from shared.http.auth import Role
from shared.settings import LOCAL_REALM

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "outreach-test-password"


def _launcher() -> ModuleType:
    """``deploy/local/keycloak.py``, the launcher ``stack.py up`` uses (not a package)."""
    spec = importlib.util.spec_from_file_location(
        "outreach_local_keycloak", ROOT / "deploy/local/keycloak.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the settings' annotations through it
    spec.loader.exec_module(module)
    return module


keycloak = _launcher()


class KeycloakUsers:
    """Signs in as any user of a realm: made (or changed) to have the role, districts and
    provider asked for. A token is reused while it has more than a minute left."""

    def __init__(self, realm: str = LOCAL_REALM) -> None:
        self.realm = realm
        self.settings = keycloak.KeycloakSettings()
        self.admin = keycloak.Admin(self.settings)
        self.issuer = f"{self.settings.keycloak_url}/realms/{realm}"
        self._tokens: dict[tuple[str, str, frozenset[str], str], tuple[str, float]] = {}

    def token(
        self, user: str, role: Role | str, *districts: str, provider: UUID | str | None = None
    ) -> str:
        key = (user, str(Role(role)), frozenset(districts), str(provider or ""))
        cached = self._tokens.get(key)
        if cached is not None and cached[1] > time.time() + 60:
            return cached[0]
        attributes = {"districts": list(districts)}
        if provider:
            attributes["provider"] = [str(provider)]
        self.admin.put_user(self.realm, user, str(Role(role)), attributes, PASSWORD)
        token: str = keycloak.password_token(self.settings, user, PASSWORD, self.realm)
        expires = float(jwt.decode(token, options={"verify_signature": False})["exp"])
        self._tokens[key] = (token, expires)
        return token

    def mint(self, user: str, role: Role | str, *districts: str) -> str:
        """The signature of the ``mint`` fixture, with a token of Keycloak."""
        return self.token(user, role, *districts)

    def close(self) -> None:
        self.admin.__exit__()
