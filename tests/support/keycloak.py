"""Real tokens of the local stack's Keycloak for the tests, without a browser.

Users are made on the fly through the admin API (any user name, role, districts and
provider) and sign in with the password grant of the development client ``outreach-dev``,
which only the development stack has (``deploy/local/keycloak_realm.py``; never the realm
file).
"""

from __future__ import annotations

import time
from uuid import UUID

import jwt

from deploy.local import keycloak_realm
from shared.auth import Role
from shared.settings import LOCAL_REALM

PASSWORD = "outreach-test-password"


class KeycloakUsers:
    """Signs in as any user of a realm: made (or changed) to have the role, districts and
    provider asked for. A token is reused while it has more than a minute left."""

    def __init__(self, realm: str = LOCAL_REALM) -> None:
        self.realm = realm
        self.settings = keycloak_realm.KeycloakSettings()
        self.admin = keycloak_realm.Admin(self.settings)
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
        token: str = keycloak_realm.password_token(self.settings, user, PASSWORD, self.realm)
        expires = float(jwt.decode(token, options={"verify_signature": False})["exp"])
        self._tokens[key] = (token, expires)
        return token

    def mint(self, user: str, role: Role | str, *districts: str) -> str:
        """The signature of the ``mint`` fixture, with a token of Keycloak."""
        return self.token(user, role, *districts)

    def close(self) -> None:
        self.admin.__exit__()
