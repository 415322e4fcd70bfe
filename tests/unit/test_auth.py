"""Bearer tokens of the development key (HS256), the claims that make a principal, district
scoping, roles, and the settings that decide which tokens a service accepts. (Tokens of an
identity provider: ``test_oidc.py``.)"""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import ValidationError

from shared.auth import (
    JobTokens,
    OidcVerifier,
    Principal,
    Role,
    TokenCodec,
    verifier_from_settings,
)
from shared.errors import ForbiddenError, NotFoundError, UnauthorizedError
from shared.settings import Mode, ServiceSettings

pytestmark = pytest.mark.unit

SECRET = "unit-test-signing-key-of-enough-length-for-hs512-0123456789abcdef"
ISSUER = "outreach"

PRINCIPAL = Principal(user="cm-mueller", role=Role.CASE_MANAGER, districts={"kassel", "borken"})


@pytest.fixture
def codec() -> TokenCodec:
    return TokenCodec(SECRET, "HS256", ISSUER)


def claims(**overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "sub": "cm-mueller",
        "preferred_username": "cm-mueller",
        "roles": ["case_manager"],
        "districts": ["kassel"],
        "iss": ISSUER,
        "aud": "outreach",
        "iat": now,
        "exp": now + timedelta(hours=1),
        **overrides,
    }


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, default=lambda d: int(d.timestamp())).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_minted_token_decodes_to_the_same_principal(codec: TokenCodec) -> None:
    token = codec.mint(PRINCIPAL)

    assert codec.decode(token) == PRINCIPAL


def test_minted_token_is_signed_with_the_pinned_algorithm(codec: TokenCodec) -> None:
    token = codec.mint(PRINCIPAL, ttl=timedelta(minutes=5))

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], issuer=ISSUER, audience="outreach")
    assert payload["sub"] == "cm-mueller"
    assert payload["preferred_username"] == "cm-mueller"
    assert payload["roles"] == ["case_manager"]
    assert payload["districts"] == ["borken", "kassel"]
    assert payload["exp"] - payload["iat"] == 300


def test_expired_token_is_rejected(codec: TokenCodec) -> None:
    token = codec.mint(PRINCIPAL, ttl=timedelta(seconds=-1))

    with pytest.raises(UnauthorizedError) as raised:
        codec.decode(token)

    assert raised.value.status == 401
    assert raised.value.code == "unauthorized"
    assert raised.value.extra == {"reason": "token_expired"}
    assert raised.value.detail == "the token has expired"


def test_a_remembered_token_is_rejected_once_it_has_expired(codec: TokenCodec) -> None:
    token = codec.mint(PRINCIPAL, ttl=timedelta(seconds=1))
    assert codec.decode(token) == PRINCIPAL  # verified, and remembered until its expiry

    time.sleep(1.1)

    with pytest.raises(UnauthorizedError):
        codec.decode(token)


def test_token_signed_with_another_secret_is_rejected(codec: TokenCodec) -> None:
    forged = TokenCodec("another-secret-of-the-same-sort-0123456789", "HS256", ISSUER)

    with pytest.raises(UnauthorizedError):
        codec.decode(forged.mint(PRINCIPAL))


def test_token_of_another_issuer_is_rejected(codec: TokenCodec) -> None:
    token = jwt.encode(claims(iss="someone-else"), SECRET, algorithm="HS256")

    with pytest.raises(UnauthorizedError):
        codec.decode(token)


def test_token_signed_with_another_algorithm_is_rejected(codec: TokenCodec) -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS512")
    assert jwt.decode(token, SECRET, algorithms=["HS512"], audience="outreach")["sub"]

    with pytest.raises(UnauthorizedError):
        codec.decode(token)


def test_unsigned_token_is_rejected(codec: TokenCodec) -> None:
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims())}."

    with pytest.raises(UnauthorizedError):
        codec.decode(unsigned)


@pytest.mark.parametrize("missing", ["sub", "exp", "iss", "aud", "roles", "preferred_username"])
def test_token_without_a_required_claim_is_rejected(codec: TokenCodec, missing: str) -> None:
    incomplete = claims()
    del incomplete[missing]

    with pytest.raises(UnauthorizedError):
        codec.decode(jwt.encode(incomplete, SECRET, algorithm="HS256"))


@pytest.mark.parametrize(
    "override",
    [
        {"roles": ["superuser"]},
        {"roles": ["case_manager", "team_lead"]},
        {"districts": []},
        {"preferred_username": ""},
        {"provider": "not-a-uuid"},
    ],
    ids=["unknown-role", "two-roles", "no-district", "empty-user", "bad-provider"],
)
def test_token_with_invalid_claims_is_rejected(
    codec: TokenCodec, override: dict[str, object]
) -> None:
    with pytest.raises(UnauthorizedError) as raised:
        codec.decode(jwt.encode(claims(**override), SECRET, algorithm="HS256"))

    assert raised.value.extra == {"reason": "token_claims_invalid"}
    assert "superuser" not in raised.value.detail
    assert "not-a-uuid" not in raised.value.detail


def test_roles_of_other_applications_are_ignored_and_one_role_may_be_a_string(
    codec: TokenCodec,
) -> None:
    """An identity provider lists every role of the user (offline_access, other
    applications' roles); one of them is the Outreach role."""
    listed = claims(roles=["offline_access", "case_manager", "uma_authorization"])
    single = claims(roles="case_manager", districts="kassel")

    for token_claims in (listed, single):
        principal = codec.decode(jwt.encode(token_claims, SECRET, algorithm="HS256"))
        assert principal == Principal(
            user="cm-mueller", role=Role.CASE_MANAGER, districts={"kassel"}
        )


def test_the_provider_of_a_provider_outreach_worker_comes_from_its_claim(
    codec: TokenCodec,
) -> None:
    provider = "0b5f3c1e-8d7a-4c55-9a34-6f1e2d3c4b5a"
    token = jwt.encode(
        claims(roles=["provider_outreach"], provider=provider), SECRET, algorithm="HS256"
    )

    principal = codec.decode(token)

    assert principal.role is Role.PROVIDER_OUTREACH
    assert str(principal.provider) == provider


def test_garbage_token_is_rejected_without_the_libraries_words(codec: TokenCodec) -> None:
    with pytest.raises(UnauthorizedError) as raised:
        codec.decode("not-a-token")

    assert raised.value.extra == {"reason": "token_malformed"}
    assert raised.value.detail == "the bearer token is not a well-formed JWT"


def test_another_districts_records_do_not_exist_for_the_user() -> None:
    PRINCIPAL.check_district("kassel", "case")

    with pytest.raises(NotFoundError) as raised:
        PRINCIPAL.check_district("halle", "case")

    assert raised.value.status == 404
    assert raised.value.detail == "case not found"
    assert "halle" not in raised.value.detail


def test_a_role_not_allowed_is_forbidden() -> None:
    PRINCIPAL.require(Role.CASE_MANAGER, Role.TEAM_LEAD)

    with pytest.raises(ForbiddenError) as raised:
        PRINCIPAL.require(Role.TEAM_LEAD, Role.DATA_PROTECTION_OFFICER)

    assert raised.value.status == 403
    assert raised.value.code == "forbidden"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.upper().startswith("OUTREACH_"):
            monkeypatch.delenv(name)
    return monkeypatch


ISSUER_URL = "https://login.jobcenter.example/realms/outreach"


def test_production_without_an_identity_provider_does_not_start(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("OUTREACH_KEYRING_KEK", "a" * 44)
    clean_environment.setenv("OUTREACH_BLIND_INDEX_KEY", "production-blind-index-key")
    clean_environment.setenv("OUTREACH_PG_PASSWORD", "production-database-password")

    with pytest.raises(ValidationError, match="OUTREACH_OIDC_ISSUER"):
        ServiceSettings(mode="production")


def test_production_with_a_shared_signing_key_does_not_start(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """A shared HS256 key would let anyone who holds it mint any user: production has none."""
    clean_environment.setenv("OUTREACH_OIDC_ISSUER", ISSUER_URL)
    clean_environment.setenv("OUTREACH_JWT_SECRET", "production-signing-key")
    clean_environment.setenv("OUTREACH_KEYRING_KEK", "a" * 44)
    clean_environment.setenv("OUTREACH_BLIND_INDEX_KEY", "production-blind-index-key")
    clean_environment.setenv("OUTREACH_PG_PASSWORD", "production-database-password")

    with pytest.raises(ValidationError, match="OUTREACH_JWT_SECRET is for development only"):
        ServiceSettings(mode="production")


@pytest.mark.parametrize("algorithms", ['["HS256"]', '["RS256", "none"]', "[]"])
def test_only_asymmetric_algorithms_can_be_accepted(
    clean_environment: pytest.MonkeyPatch, algorithms: str
) -> None:
    clean_environment.setenv("OUTREACH_OIDC_ALGORITHMS", algorithms)

    with pytest.raises(ValidationError, match="asymmetric algorithms only"):
        ServiceSettings()


@pytest.mark.parametrize("missing", ["KEYRING_KEK", "BLIND_INDEX_KEY"])
def test_production_without_a_data_protection_key_does_not_start(
    clean_environment: pytest.MonkeyPatch, missing: str
) -> None:
    clean_environment.setenv("OUTREACH_OIDC_ISSUER", ISSUER_URL)
    for name in ("KEYRING_KEK", "BLIND_INDEX_KEY"):
        if name != missing:
            clean_environment.setenv(f"OUTREACH_{name}", "x" * 44)

    with pytest.raises(ValidationError, match=f"OUTREACH_{missing}"):
        ServiceSettings(mode="production")


def test_production_takes_its_secrets_from_the_environment(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("OUTREACH_MODE", "production")
    clean_environment.setenv("OUTREACH_OIDC_ISSUER", ISSUER_URL)
    clean_environment.setenv("OUTREACH_KEYRING_KEK", "a" * 44)
    clean_environment.setenv("OUTREACH_BLIND_INDEX_KEY", "production-blind-index-key")
    clean_environment.setenv("OUTREACH_PG_PASSWORD", "production-database-password")

    settings = ServiceSettings()

    assert settings.mode is Mode.PRODUCTION
    assert settings.oidc_issuer == ISSUER_URL
    assert settings.secret("keyring_kek") == "a" * 44
    assert "production-blind-index-key" not in repr(settings)
    assert isinstance(verifier_from_settings(settings), OidcVerifier)


def test_development_gets_default_secrets_and_its_port(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    settings = ServiceSettings(service_name="visits")

    assert settings.mode is Mode.DEVELOPMENT
    assert settings.secret("jwt_secret")
    assert settings.secret("keyring_kek")
    assert settings.secret("blind_index_key")
    assert settings.port == 8102
    assert settings.oidc_issuer == settings.local_issuer
    codec = TokenCodec.from_settings(settings)
    assert codec.decode(codec.mint(PRINCIPAL)) == PRINCIPAL
    # Development accepts the shared key's tokens besides the identity provider's.
    assert verifier_from_settings(settings).decode(codec.mint(PRINCIPAL)) == PRINCIPAL


def test_production_refuses_a_token_of_the_development_key(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """Even a token signed with the well-known development key: production never checks an
    HS256 signature, so holding a shared key gives nobody a user."""
    clean_environment.setenv("OUTREACH_OIDC_ISSUER", ISSUER_URL)
    clean_environment.setenv("OUTREACH_KEYRING_KEK", "a" * 44)
    clean_environment.setenv("OUTREACH_BLIND_INDEX_KEY", "production-blind-index-key")
    clean_environment.setenv("OUTREACH_PG_PASSWORD", "production-database-password")
    development_token = TokenCodec.from_settings(ServiceSettings(mode="development")).mint(
        PRINCIPAL
    )
    production = verifier_from_settings(ServiceSettings(mode="production"))

    with pytest.raises(UnauthorizedError) as raised:
        production.decode(development_token)

    assert raised.value.status == 401
    assert raised.value.extra == {"reason": "token_algorithm_not_accepted"}


def test_a_job_outside_development_needs_the_identity_providers_client(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """The retention job and the export sign in as the jobs' client in production; they
    have no key to mint a token of their own."""
    clean_environment.setenv("OUTREACH_OIDC_ISSUER", ISSUER_URL)
    clean_environment.setenv("OUTREACH_KEYRING_KEK", "a" * 44)
    clean_environment.setenv("OUTREACH_BLIND_INDEX_KEY", "production-blind-index-key")
    clean_environment.setenv("OUTREACH_PG_PASSWORD", "production-database-password")

    with pytest.raises(SystemExit, match="OUTREACH_OIDC_CLIENT_ID"):
        JobTokens(ServiceSettings(mode="production"))


def test_a_job_in_development_without_a_client_mints_a_token_for_whom_it_names(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    settings = ServiceSettings()

    token = JobTokens(settings).token(PRINCIPAL)

    assert TokenCodec.from_settings(settings).decode(token) == PRINCIPAL
