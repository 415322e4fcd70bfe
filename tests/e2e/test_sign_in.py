"""Signing in at the identity provider, with the services running as processes.

A demo team lead signs in at the local Keycloak (password grant) and every service accepts
the token, scoped as an HS256 development token of the same principal was. The realm's keys
are rotated while a service runs: new tokens are accepted, old ones until they expire, and
nothing restarts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from deploy.local import keycloak_realm
from shared.auth import OidcVerifier, Principal, Role, TokenCodec
from shared.contracts import topic_of
from shared.errors import UnauthorizedError
from shared.settings import ServiceSettings
from tests.support.helpers import eventually, scratch_database
from tests.support.keycloak import PASSWORD, KeycloakUsers
from tests.support.processes import ServiceProcess, start_group_at_end

pytestmark = pytest.mark.e2e


READS: dict[str, tuple[str, str | None]] = {
    "contacts": ("/cases", "case_work"),
    "visits": ("/board", "visit_planning"),
    "coaching": ("/providers", None),
    "notifications": ("/notifications", None),
}
"""One read of each service that takes a district (and the purpose it states)."""


@pytest.fixture(scope="module")
def services(system: dict[str, ServiceProcess]) -> dict[str, ServiceProcess]:
    """The four services of the end-to-end tests, in development mode: they accept the local
    Keycloak's tokens (the default issuer) and HS256 development tokens."""
    return system


def read(service: ServiceProcess, token: str, district: str) -> httpx.Response:
    path, purpose = READS[service.service]
    headers = {"Authorization": f"Bearer {token}"}
    if purpose:
        headers["X-Purpose"] = purpose
    return httpx.get(f"{service.url}{path}", params={"district": district}, headers=headers)


def test_a_demo_team_lead_signs_in_and_every_service_accepts_the_token_scoped_as_before(
    stack: ServiceSettings, services: dict[str, ServiceProcess]
) -> None:
    token = keycloak_realm.password_token(stack, "jonas.becker", keycloak_realm.demo_password())
    before = TokenCodec.from_settings(stack).mint(
        Principal(user="jonas.becker", role=Role.TEAM_LEAD, districts={"kassel"})
    )
    assert jwt.get_unverified_header(token)["alg"] == "RS256"

    for name, service in services.items():
        own = read(service, token, "kassel")
        assert own.status_code == 200, f"{name}: {own.text}"
        assert own.json() == read(service, before, "kassel").json(), name
        other = read(service, token, "darmstadt-dieburg")
        as_before = read(service, before, "darmstadt-dieburg")
        assert (other.status_code, other.json()) == (as_before.status_code, as_before.json()), name
    assert read(services["contacts"], token, "darmstadt-dieburg").status_code == 404


@pytest.fixture(scope="module")
def rotating_realm(keycloak_users: KeycloakUsers) -> Iterator[str]:
    """A realm of its own, from the realm file: rotating its keys disturbs no other test (nor
    a ``make up`` on the same stack)."""
    admin = keycloak_users.admin
    name = f"outreach-rotation-{uuid.uuid4().hex[:8]}"
    admin.call("POST", "", json=keycloak_realm.realm_representation(name))
    try:
        keycloak_realm.add_dev_client(admin, name)
        yield name
    finally:
        admin.call("DELETE", f"/{name}")


@pytest.fixture(scope="module")
def rotation_service(
    stack: ServiceSettings, e2e_dir: Path, rotating_realm: str
) -> Iterator[ServiceProcess]:
    with scratch_database(stack, "contacts_rotation") as database:
        start_group_at_end(stack, f"{database}-coaching-notes", topic_of("coaching"))
        env = {
            "OUTREACH_SERVICE_NAME": database,
            "OUTREACH_OIDC_ISSUER": f"{stack.keycloak_url}/realms/{rotating_realm}",
            "OUTREACH_OIDC_LEEWAY_SECONDS": "0",
            # A new key is fetched with the first token that names it, however soon.
            "OUTREACH_OIDC_JWKS_COOLDOWN_SECONDS": "0",
        }
        process = ServiceProcess("contacts", e2e_dir, env, name="contacts-rotation")
        process.start()
        yield process
        process.stop()


def signing_keys(admin: Any, realm: str) -> list[dict[str, Any]]:
    components: list[dict[str, Any]] = admin.call(
        "GET", f"/{realm}/components", params={"type": "org.keycloak.keys.KeyProvider"}
    )
    return [c for c in components if c["providerId"] == "rsa-generated"]


def test_keys_rotated_while_a_service_runs_pass_new_tokens_and_old_ones_until_they_expire(
    stack: ServiceSettings,
    keycloak_users: KeycloakUsers,
    rotating_realm: str,
    rotation_service: ServiceProcess,
    district: str,
) -> None:
    admin = keycloak_users.admin
    admin.put_user(rotating_realm, "tl-rotation", "team_lead", {"districts": [district]}, PASSWORD)

    def sign_in() -> str:
        return str(keycloak_realm.password_token(stack, "tl-rotation", PASSWORD, rotating_realm))

    def cases(token: str) -> httpx.Response:
        return httpx.get(
            f"{rotation_service.url}/cases",
            params={"district": district},
            headers={"Authorization": f"Bearer {token}", "X-Purpose": "case_work"},
        )

    # Two tokens of the old key: one that lives 20 s, one that lives 5 minutes.
    admin.call("PUT", f"/{rotating_realm}", json={"accessTokenLifespan": 20})
    short_lived = sign_in()
    assert cases(short_lived).status_code == 200
    admin.call("PUT", f"/{rotating_realm}", json={"accessTokenLifespan": 300})
    old = sign_in()
    assert cases(old).status_code == 200
    [old_key] = signing_keys(admin, rotating_realm)

    # Rotate: a new RSA key of higher priority signs from now on.
    realm_id = admin.call("GET", f"/{rotating_realm}")["id"]
    admin.call(
        "POST",
        f"/{rotating_realm}/components",
        json={
            "name": "rsa-rotated",
            "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm_id,
            "config": {"priority": ["200"], "keySize": ["2048"], "algorithm": ["RS256"]},
        },
    )
    new = sign_in()
    assert jwt.get_unverified_header(new)["kid"] != jwt.get_unverified_header(old)["kid"]
    assert cases(new).status_code == 200
    assert cases(old).status_code == 200

    # Retire the old key: passive (it only verifies), then removed.
    admin.call(
        "PUT",
        f"/{rotating_realm}/components/{old_key['id']}",
        json={**old_key, "config": {**old_key["config"], "active": ["false"]}},
    )
    fresh = OidcVerifier(
        f"{stack.keycloak_url}/realms/{rotating_realm}", "outreach", ["RS256"], leeway=0
    )
    assert fresh.decode(old).user == "tl-rotation"  # a passive key is still published
    admin.call("DELETE", f"/{rotating_realm}/components/{old_key['id']}")
    with pytest.raises(UnauthorizedError) as raised:
        OidcVerifier(fresh.issuer, "outreach", ["RS256"], leeway=0).decode(old)
    assert raised.value.extra["reason"] == "token_key_unknown"

    # The running service still passes the new tokens, and the old ones (checked before)
    # until they expire; then it answers 401 for that reason.
    assert cases(sign_in()).status_code == 200
    assert cases(old).status_code == 200

    def refused_as_expired() -> dict[str, Any] | None:
        response = cases(short_lived)
        return response.json() if response.status_code == 401 else None

    problem = eventually(refused_as_expired, timeout=45, interval=1, what="the old token expired")
    assert (problem["code"], problem["reason"]) == ("unauthorized", "token_expired")
    assert cases(sign_in()).status_code == 200
    assert rotation_service.starts == 1
    assert rotation_service.process is not None
    assert rotation_service.process.poll() is None
