"""Signing in at the real identity provider (the local stack's Keycloak, realm ``outreach``
from ``deploy/keycloak/outreach-realm.json``): its tokens give the services the same
principal as before, and tokens of another issuer or for another audience are refused."""

from __future__ import annotations

import uuid

import pytest

from deploy.local import keycloak_realm
from shared.auth import JobTokens, OidcVerifier, Principal, Role
from shared.errors import UnauthorizedError
from shared.settings import ServiceSettings
from tests.support.keycloak import KeycloakUsers

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def verifier(stack: ServiceSettings) -> OidcVerifier:
    return OidcVerifier.from_settings(stack)


def refusal(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(UnauthorizedError) as raised:
        verifier.decode(token)
    assert raised.value.status == 401
    return str(raised.value.extra["reason"])


def test_a_demo_team_lead_signs_in_with_a_password_and_is_the_principal_of_before(
    stack: ServiceSettings, verifier: OidcVerifier
) -> None:
    token = keycloak_realm.password_token(stack, "jonas.becker", keycloak_realm.demo_password())

    assert verifier.decode(token) == Principal(
        user="jonas.becker", role=Role.TEAM_LEAD, districts={"kassel"}
    )


def test_every_demo_user_signs_in_with_the_role_and_districts_of_the_demo_list(
    stack: ServiceSettings, verifier: OidcVerifier
) -> None:
    demo = keycloak_realm.demo_users()
    assert {user["role"] for user in demo} == set(Role)

    for user in demo:
        token = keycloak_realm.password_token(
            stack, user["username"], keycloak_realm.demo_password()
        )
        principal = verifier.decode(token)
        assert (principal.user, principal.role, principal.districts) == (
            user["username"],
            Role(user["role"]),
            frozenset(user["districts"]),
        )


def test_the_jobs_sign_in_with_client_credentials_as_officer_of_their_districts(
    stack: ServiceSettings, verifier: OidcVerifier, keycloak_users: KeycloakUsers
) -> None:
    admin = keycloak_users.admin
    client = admin.client("outreach", "outreach-jobs")
    secret = admin.call("GET", f"/outreach/clients/{client['id']}/client-secret")["value"]
    settings = ServiceSettings(oidc_client_id="outreach-jobs", oidc_client_secret=secret)
    asked_for = Principal(user="anyone", role=Role.CASE_MANAGER, districts={"halle"})

    principal = verifier.decode(JobTokens(settings).token(asked_for))

    # The identity provider says who the job is, not the job.
    assert principal == Principal(
        user="service-account-outreach-jobs",
        role=Role.DATA_PROTECTION_OFFICER,
        districts={"kassel", "darmstadt-dieburg", "kreis-borken"},
    )


def test_a_token_of_another_realm_is_refused_as_of_another_issuer(
    verifier: OidcVerifier, keycloak_users: KeycloakUsers
) -> None:
    master_token = keycloak_users.admin.sign_in()  # the master realm's admin client

    assert refusal(verifier, master_token) == "token_issuer_invalid"


def test_a_token_the_realm_issued_for_another_application_is_refused(
    stack: ServiceSettings, verifier: OidcVerifier, keycloak_users: KeycloakUsers
) -> None:
    """Same realm, same keys, but meant for another application (its audience)."""
    admin = keycloak_users.admin
    existing = admin.client("outreach", "other-app")
    if existing is not None:
        admin.call("DELETE", f"/outreach/clients/{existing['id']}")
    admin.call(
        "POST",
        "/outreach/clients",
        json={
            "clientId": "other-app",
            "publicClient": True,
            "standardFlowEnabled": False,
            "directAccessGrantsEnabled": True,
            "defaultClientScopes": [],
            "protocolMappers": [
                {
                    "name": "sub",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-sub-mapper",
                    "config": {"access.token.claim": "true"},
                },
                {
                    "name": "audience",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-audience-mapper",
                    "config": {
                        "included.custom.audience": "other-app",
                        "access.token.claim": "true",
                    },
                },
            ],
        },
    )
    keycloak_users.token("tl-other-app", "team_lead", "kassel")  # the user exists now
    token = keycloak_realm.password_token(
        stack, "tl-other-app", "outreach-test-password", client_id="other-app"
    )

    assert refusal(verifier, token) == "token_audience_invalid"


def test_a_realm_made_from_another_realm_file_is_made_again_and_an_unchanged_one_is_kept(
    keycloak_users: KeycloakUsers,
) -> None:
    """Keycloak's import skips a realm that exists, so the launcher applies a changed realm
    file (or demo users list) itself: it sees what it applied last on the development client
    and makes the realm again from the file. (A realm of its own: ``outreach`` serves the
    other tests.)"""
    admin = keycloak_users.admin
    realm = f"outreach-relaunch-{uuid.uuid4().hex[:8]}"
    try:
        keycloak_realm.create_realm(admin, realm)
        keycloak_realm.add_dev_client(admin, realm, applied="digest of an older realm file")
        admin.put_user(realm, "made-since", "team_lead", {"districts": ["kassel"]}, "pw")

        keycloak_realm.ensure_realm(admin, realm)

        assert admin.user(realm, "made-since") is None  # the realm was made again
        assert admin.user(realm, "jonas.becker") is not None  # with the demo users
        applied = admin.client(realm, keycloak_realm.DEV_CLIENT)["attributes"]
        admin.put_user(realm, "made-since", "team_lead", {"districts": ["kassel"]}, "pw")

        keycloak_realm.ensure_realm(admin, realm)

        assert admin.user(realm, "made-since") is not None  # unchanged file: left as it is
        assert admin.client(realm, keycloak_realm.DEV_CLIENT)["attributes"] == applied
    finally:
        admin.request("DELETE", f"/{realm}")
